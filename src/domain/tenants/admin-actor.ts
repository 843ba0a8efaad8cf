/** Who asks for an admin change, as the audit trail records it. */
export interface AdminActor {
  /** The admin user (HTTP Basic) who made the request. */
  actor: string;
  /** The client address the request came from (see clientAddress). */
  address: string | null;
}
