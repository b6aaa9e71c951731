/** Bumped on any incompatible change of the wire protocol; agent and controller must agree exactly. */
export const PROTOCOL_VERSION = 1;

/** The version of kctl itself, reported by agents and the controller. */
export const KCTL_VERSION = '0.1.0';

/** Control frames are small; bundles travel as separate hashed downloads (S10). */
export const MAX_FRAME_BYTES = 1024 * 1024;
/** Control frames are a few KB: a message in more pieces than this is hostile (S10, both ends). */
export const MAX_WS_FRAGMENTS = 64;
/** Buffered chunks of one message before ws refuses it (S10, both ends). */
export const MAX_WS_BUFFERED_CHUNKS = 256;
