// Package keys holds a channel's secrets: the symmetric [Ring] of channel
// keys (with ids, for rotation) that the encrypt layer and keyed channels
// derive their working keys from, the Ed25519 [Identity] a member signs
// with, and the [Trust] set of public keys whose signatures a channel
// accepts.
//
// Raw key material never leaves these types: a [Ring] hands out only keys
// derived with HKDF-SHA256 for a stated purpose, and an [Identity] only
// signatures and its public key. Every type prints as a summary (ids,
// fingerprints) without secrets: an Identity by value or by pointer, for
// every fmt verb (%v, %+v, %#v, %s, %q, %x, %d, ...), through
// encoding/json, encoding.TextMarshaler users and log/slog; a *Ring
// likewise. Where fmt cannot call those methods (an Identity in an
// unexported struct field, printed by reflection) the secret bytes sit two
// pointers away, which fmt prints as an address. So a key cannot end up in
// a log or an error by accident.
//
// All types are safe for concurrent use; a Ring may be changed (a key
// added, the sending key switched, an old key removed) while channels use
// it, which is how keys are rotated:
//
//	ring.Add(2, newKey)  // every member: receivers accept key 2 as well
//	ring.Use(2)          // then senders switch to it
//	ring.Remove(1)       // after the overlap period
//
// A removed key is refused at once (Has, IDs and Derive no longer see it)
// but its bytes are overwritten with zeros only after a grace period
// ([DefaultGrace], or [Ring.SetGrace]), counted on the ring's clock
// ([time.Now] unless SetGrace gives another) from the Remove call, so that a
// packet being opened under it at that moment is still opened with the
// real key. The bytes are wiped by the first Add, Use, Remove or
// [Ring.WipeExpired] at or after the deadline, and by a timer that Remove
// starts for the grace period. Keys returned by [Ring.Derive] are new
// slices that belong to the caller: the ring never wipes them, so holders
// clear them themselves and derive again when [Ring.Generation] changes.
//
// [MemberID] derives a member id from an Ed25519 public key and a salt:
// channels with an identity take it as their member id, and the sign layer
// checks it, so that a trusted key signs only for its own member.
//
// A [Trust] names keys by a 64-bit [Fingerprint]; [Trust.Add] refuses, with
// [ErrFingerprintCollision], a key whose fingerprint is that of a different
// key already trusted, rather than replacing it. Adding the same key again
// is a no-op.
package keys
