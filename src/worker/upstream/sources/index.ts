export { createUpstreamSource, UpstreamSourceDeps } from './create-upstream-source';
export { DnsUpstreamSource } from './dns-upstream-source';
export { FileUpstreamSource } from './file-upstream-source';
export { parseUpstreamsFile, UpstreamsFileError } from './upstreams-file';
export { sameUpstreamList, UpstreamSource, UpstreamSourceKind, UpstreamSpec } from './upstream-spec';
