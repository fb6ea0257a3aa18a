// Package keys holds a channel's secrets: the symmetric [Ring] of channel
// keys (with ids, for rotation) that the encrypt layer and keyed channels
// derive their working keys from, the Ed25519 [Identity] a member signs
// with, and the [Trust] set of public keys whose signatures a channel
// accepts.
//
// Raw key material never leaves these types: a [Ring] hands out only keys
// derived with HKDF-SHA256 for a stated purpose, and every type prints as a
// summary (ids, fingerprints) without secrets, whatever the format verb, so
// a key cannot end up in a log or an error by accident.
//
// All types are safe for concurrent use; a Ring may be changed (a key
// added, the sending key switched, an old key removed) while channels use
// it, which is how keys are rotated:
//
//	ring.Add(2, newKey)  // every member: receivers accept key 2 as well
//	ring.Use(2)          // then senders switch to it
//	ring.Remove(1)       // after the overlap period
package keys
