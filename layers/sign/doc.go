// Package sign is the source-authentication layer: a sender signs what its
// stack sends with its Ed25519 identity, one packet at a time or, to
// amortise the cost of signing, a batch of packet digests at once; a
// receiver delivers only packets whose signature verifies under a key in
// its trust set, for this sender and this stream, and only from the key
// the sending member's id is bound to (see "Member ids bound to keys").
// Unsigned packets, packets signed by keys it does not trust and packets
// signed by a trusted key for another member are dropped and counted.
//
// Importing the package registers the layer as "sign":
//
//	sign(batch=16, delay=2ms, hold=4MiB, packets=1024, timeout=200ms)
//
// A sender's stack needs an identity (registry.Env's Identity, set by
// channel.WithIdentity; on a channel also the member salt, registry.Env's
// MemberSalt, which the channel sets with it) and a receiver's stack a set
// of trusted public keys (registry.Env's Trusted, set by
// channel.WithTrusted); a stack without them refuses to be built, saying
// which option is missing. A member that
// both sends and receives signed streams needs both. The layer provides
// stack.CapAuthenticated.
//
// It belongs at the wire side of a stack, below the layers whose state
// forged packets could move ("reliable/sign" is frag/order/window/sign):
// then it signs every packet the window sends, retransmissions included,
// and the window only ever sees authentic data. Above frag ("sign/frag")
// it signs whole parcels instead of fragments, one signature per parcel.
//
// Because a receiver builds its stack from what the sender announces, a
// receiver that requires signatures should also refuse streams announced
// without the layer: channel.WithReceivePolicy(channel.Policy{Require:
// []string{"sign"}}).
//
// # Batches
//
// With batch=1 every packet carries its own signature (kind SIGNED): no
// waiting, 101 bytes at most per packet, and one Ed25519 signature per
// packet at the sender and one verification per packet at each receiver.
//
// With batch>1 packets go out at once with a short header (kind DATA: a
// sequence number) and the sender keeps a digest of each: SHA-256 cut to
// its first 16 bytes, which keeps 2^128 work for a second preimage (a
// forged packet matching a digest the sender signed) and lets one SIG
// packet vouch for about 80 packets under an Ethernet MTU, halving the
// Ed25519 work per packet against full digests. After
// batch packets, or delay after the first of them, it sends one SIG packet
// listing the digests, signed once. A receiver holds DATA packets until a
// SIG verifies, then releases those whose digest it lists, in sequence
// order, and drops the other packets held under those sequence numbers.
// It remembers the listed digests of packets not arrived yet, so a packet
// that arrives after its SIG is released at once. Nothing is delivered
// before a signature over its digest has verified.
//
// What a receiver holds is bounded: at most packets packets costing at
// most hold bytes (each costs its whole buffer plus bookkeeping, so a
// flood of tiny packets cannot hide behind their length), reserved also
// from the channel's shared memory budget when the stack has one; the
// oldest packet is evicted first. Packets still unverified after timeout
// (a lost SIG) are dropped; digests whose packet does not come within
// timeout are forgotten (counter "unclaimed"). Batching therefore adds up
// to delay of latency, and a lost SIG loses its whole batch, which a
// reliability layer above then repairs.
//
// # What a signature binds
//
// A signature covers this message, which is never sent as such: each side
// builds it from what it knows (integers big-endian, fixed size):
//
//	15 bytes    "rwanda/sign/v3\x00", so no other use of the key can be confused with it
//	32 bytes    the SHA-256 of the channel identity (registry.Env's Channel; "" for a stack outside a channel)
//	8 bytes     the sending member's id (Flow.Local at the sender, Flow.Remote at the receiver)
//	8 bytes     the member salt (registry.Env's MemberSalt at the sender; carried in the packet)
//	4 bytes     the stream's id (Flow.ID)
//	8 bytes     the signer's key fingerprint
//	8 bytes     the sender stack's instance (Flow.Instance at the sender; carried in the packet)
//	8 bytes     the sequence number of the first packet covered
//	4 bytes     the number of packets covered
//	16 × count  each packet's digest, in sequence order
//
// A packet's digest is the SHA-256, cut to 16 bytes, of its relay
// metadata in its canonical encoding (stack.AppendRelay: media class,
// droppable, time left, frame id and frame end, latest-wins key) followed
// by its payload (the bytes above this layer).
//
// A signed packet therefore cannot be replayed onto another channel or
// stream, or as another member's, or as another stack's of the same
// member: the message the receiver builds differs and the signature
// fails. And the salt binds the member id to the signer's key, so that
// no key signs under another member's id (see "Member ids bound to
// keys"). A SIGNED packet's signature is the same statement as a SIG of
// one packet. Version 1 of the message (domain "rwanda/sign/v1\x00")
// bound neither the channel nor relay metadata, version 2 not the member
// salt; no two versions verify each other's signatures.
//
// # Member ids bound to keys
//
// A signature covers the sending member's id, but that alone would let any
// trusted key sign under any member's id. So a member's id is bound to its
// key: a channel with an identity takes as its member id
// keys.MemberID(public key, salt), the first 8 bytes of the SHA-256 of
// "rwanda/member-id/v1\x00", the 32-byte Ed25519 public key and a salt of 8
// bytes drawn at random when the channel opens (never 0), and the sender's
// layer carries the salt in every SIGNED and SIG packet. A receiver checks,
// before verifying a signature, that keys.MemberID of the signer's trusted
// key and the packet's salt is the sending member's id (Flow.Remote);
// otherwise it drops the packet ("wrong-member"). The check costs one
// SHA-256 per flow: the binding found is kept, and later packets compare
// the key and salt with it. So no signer speaks for another member: to
// sign under a member id not derived from its own key, an insider must
// find a salt that maps its key to that id, about 2^64 SHA-256
// evaluations for one given id (the ids are 64 bits), and member ids are
// fresh per channel instance.
//
// Salt 0 says "unbound", for stacks outside a channel (Config.Channel "",
// registry.Env without a MemberSalt): a sender there may run without a
// salt, and a receiver outside a channel accepts unbound signatures, as
// before member ids were bound (a salt other than 0 is checked there too).
// A receiver on a channel drops salt 0 ("wrong-member"), and a sender's
// stack on a channel without a salt refuses to be built
// ([ErrNoMemberSalt]), so channel members are always bound.
//
// # Relay metadata
//
// Channels write each packet's relay metadata in the clear beside it, so
// that a relay without keys can read it (media class, droppable, time
// left, frame, key) to decide what to forward, thin or drop. On a signed
// stream nobody can change it: the sender's layer stamps the time left as
// of the moment it signs (stack.Meta.StampLeft on the stack clock), marks
// the packet stack.FlagSealed so that the channel below does not restamp
// it, and signs the metadata with the payload; the receiver's layer
// computes the digest from the metadata as the channel parsed it. A relay
// that changes any bit of it makes the packet fail ("bad-signature" for
// SIGNED, "bad-digest" for DATA), which is no more than the relay could do
// by dropping it. Every packet is stamped and signed when it passes the
// layer, so a retransmission from a layer above (a window) carries the
// time left at its own send; a layer below the sign layer that delays
// packets makes the stamp an overestimate, never an underestimate. One
// sign layer per stack: it restamps whatever passes it. Above frag, a
// signature covers the parcel's metadata, which every fragment carries a
// copy of and which frag restores from the parcel's first fragment: a
// relay that alters another fragment's copy goes unnoticed but gains
// nothing it could not get by dropping that fragment.
//
// SIG packets are the layer's own statements about their batch's digests:
// their relay metadata is fixed (media data, not droppable, no key, no
// frame), is not sealed (the channel stamps their time left from their
// deadline) and is not covered by their signature. A relay that changes
// it can at most get the SIG dropped, as it could drop the SIG itself.
// FEEDBACK packets are not signed at all.
//
// # Wire format
//
// Every packet the layer sends starts with a kind byte whose high nibble
// 0x6 says "sign, header version 2" (version 3 of the signed message).
// Integers in headers are big-endian (the fingerprint, the salt) or
// uvarints, which must be in their shortest form: any change to a header
// either changes what it says (and the signature fails, or the salt no
// longer binds the member id) or makes it malformed. Version 1 (high
// nibble 0x5: SIGNED and SIG without the salt, from an older release) is
// dropped as malformed.
//
//	SIGNED 0x61  one packet with its own signature (batch=1):
//	    byte 0        0x61
//	    bytes 1-8     signer fingerprint (keys.Fingerprint)
//	    bytes 9-16    member salt (keys.MemberID; 0: unbound)
//	    uvarint       sender stack instance
//	    uvarint       sequence number
//	    64 bytes      Ed25519 signature of the message above (count 1)
//	    rest          payload
//
//	DATA 0x62  one packet of a batch (batch>1):
//	    byte 0        0x62
//	    uvarint       sequence number
//	    rest          payload
//
//	SIG 0x63  the signature of a batch (sent after its DATA packets):
//	    byte 0        0x63
//	    bytes 1-8     signer fingerprint
//	    bytes 9-16    member salt
//	    uvarint       sender stack instance
//	    uvarint       first sequence number
//	    uvarint       count, 1..1024
//	    16 × count    the digests, in sequence order
//	    64 bytes      Ed25519 signature of the message above
//	    (nothing after)
//
//	FEEDBACK 0x64  feedback from a receiver's stack (acks, NAKs):
//	    byte 0        0x64
//	    rest          payload, not signed
//
// A sender's stack numbers everything it sends from 0, its own control
// packets included. A SIG goes to the member all its batch's packets were
// addressed to, if they were, and carries the latest of their deadlines
// when every one has one (stack.Meta), so a layer below does not keep it
// longer than its packets. SIG packets are marked stack.FlagControl.
//
// The layer declares its longest header as its overhead: 101 bytes with
// batch=1, 11 with batch>1. A SIG packet holds 103 + 16 × batch bytes at
// most and must fit in the room under the MTU below the layer; a batch too
// large for it is refused when the stack is built, naming the largest that
// fits (about 80 at an Ethernet MTU: 83 on an unkeyed channel at its
// default 1472-byte datagrams, 78 on a keyed one). Larger batches amortise the
// signature further (on this project's machine batch=80 doubles the
// throughput of batch=16) at the cost of up to delay of holding.
//
// # Signers, replay and feedback
//
// Only the key a flow's member id is bound to can sign on it (see "Member
// ids bound to keys"); besides, the first signature that verifies on a
// flow pins its signer: a packet signed by another key, even a trusted
// one, is dropped ("wrong-signer") before its binding is looked at.
// The trust set is consulted for every signature, so a key removed from it
// is refused from then on. A receiver keeps a window of the last 4096
// sequence numbers it delivered: a packet delivered before, or older than
// the window, is dropped ("replay"). A signature from a newer instance of
// the sender's stack (the sender rebuilt it under the same stream id)
// starts a new sequence space; one from an older instance is dropped
// ("stale").
//
// Feedback (what a receiver's stack sends down, and what a sender's stack
// gets from below) is not signed: it passes with its own kind byte.
// Acknowledgements and NAKs are authenticated by a keyed channel and the
// encrypt layer, not by this one. A receiver passes up feedback only when
// the stack marks it overheard (stack.FlagOverheard, another receiver's on
// multicast); a sender's stack passes up nothing else. Skip markers
// (stack.FlagSkip) from a layer below pass up untouched: they come from
// this stack, not from the wire.
//
// # Statistics
//
// Drops are counted by reason in the stack's statistics: "unsigned" (not a
// packet of this layer, such as from a sender without it, or feedback on
// the data path), "malformed" (headers of version 1 included),
// "untrusted", "wrong-signer", "wrong-member" (a trusted key whose binding
// with the packet's salt does not give the sending member's id, or salt 0
// on a channel), "bad-signature", "bad-digest" (a packet whose digest is
// not the one its verified SIG lists: tampered or forged), "replay",
// "stale", "duplicate", "expired", "evicted", "too-large" (larger than the
// whole hold), "no-memory" (the shared budget refused it), "unexpected"
// (anything but feedback at a sender). Counters: "signed", "data", "sigs"
// at a sender; "verified" (packets delivered), "signatures" (signatures
// that verified) and "unclaimed" at a receiver. Events: "signer" when a
// flow's signer is pinned, "untrusted-signer" the first time a flow sees
// an untrusted one, "wrong-member" the first time it sees a trusted key
// speaking for another member. [Layer.State] reports what a receiver
// holds.
//
// # Limitations
//
// Trust is per key, and each member id is bound to one key: a trusted key
// signs only for member ids derived from it (about 2^64 work to bind it to
// a given other id), so a trusted insider can forge nothing under another
// member's id, whether the receiver has heard that member, forgot it (a
// spoofed bye, a timeout) or never heard it. Which member ids a key uses
// is not limited: a trusted key may appear under ids of its own making
// (fresh salts), as a member opening several channels does. The binding
// holds for what this layer signs: a channel's own datagrams under a
// member id (hellos and goodbyes, and on keyed channels the datagram
// counters) are not signed, so an insider can still disturb another
// member's streams (make receivers forget it, or on a keyed channel get
// its datagrams refused as replayed for a while), without forging any of
// its postings. No common
// clock is assumed, so a receiver that has never heard a sender can be fed
// a recording of one of its streams; a recording is useless once the
// sender has been heard on that flow, and channels give members fresh ids
// (a fresh salt per channel instance).
// Verifying costs a receiver about one Ed25519 verification per SIG or
// SIGNED packet from a trusted fingerprint, forged or not; packets naming
// an untrusted fingerprint cost nothing. An attacker who can inject
// packets faster than the sender sends can push genuine packets out of
// the hold (a keyed channel drops such packets before any layer). A
// sender stack rebuilt under the same member id, stream id and instance
// (which channels never do) restarts its sequence numbers and is taken for
// a replay until they pass the old ones.
package sign
