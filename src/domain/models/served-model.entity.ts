import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * One (model, endpoint) pair of the catalogue (see the ServedModels migration). Written only by
 * ModelCatalogueRepository's statements; the entity documents the table's shape for TypeORM.
 */
@Entity('served_models')
export class ServedModelEntity {
  @PrimaryColumn({ type: 'text' })
  model!: string;

  /** The endpoint's base URL, e.g. http://10.0.0.5:8000/v1. */
  @PrimaryColumn({ name: 'endpoint_url', type: 'text' })
  endpointUrl!: string;

  /** Whether the endpoint listed the model the last time it was asked. */
  @Column({ type: 'boolean' })
  served!: boolean;

  @Column({ name: 'owned_by', type: 'text', default: 'vllm' })
  ownedBy!: string;

  @Column({ name: 'max_model_len', type: 'integer', nullable: true })
  maxModelLen!: number | null;

  @Column({ name: 'first_seen_at', type: 'timestamptz' })
  firstSeenAt!: Date;

  @Column({ name: 'last_served_at', type: 'timestamptz' })
  lastServedAt!: Date;

  /** When the observation this row reflects was made; only ever moves forward. */
  @Column({ name: 'listed_at', type: 'timestamptz' })
  listedAt!: Date;
}
