// Package impair is the project's own netem: a layer that damages the
// traffic crossing it — loss (independent or in bursts), reordering, delay
// with jitter, duplication and corruption — deterministically from a seed,
// so tests and demos can exercise the reliability layers on a host without
// traffic control, and a failing run can be repeated exactly.
//
// Importing the package registers the layer as "impair". With no
// parameters it is the identity; a typical use sits at the bottom of a
// stack, so it damages what the wire would:
//
//	frag/order/window/impair(loss=20%,reorder=10%,dup=5%,seed=7)
//
// # Parameters
//
//	name         kind        default  meaning
//	loss         percent     0%       long-run share of packets dropped
//	burst        float       1        mean run of consecutive losses (≥ 1)
//	reorder      percent     0%       share held back until the next packet has passed
//	reorderwait  duration    10ms     longest a held packet waits (≤ 10s)
//	delay        duration    0s       delay added to every packet (≤ 10s)
//	jitter       duration    0s       delay varies uniformly by ± this (≤ 10s)
//	dup          percent     0%       share of packets sent twice
//	corrupt      percent     0%       share with one random byte flipped
//	seed         int         0        seed of the decisions; 0: random, reported
//	dir          identifier  down     down, up or both
//
// [Config] holds the same settings for code that builds layers with [New];
// its probabilities are fractions (0.1 for 10%).
//
// # What happens to a packet
//
// Each packet crossing an impaired direction gets, on arrival, a fate drawn
// from that direction's random stream, applied in this order:
//
//   - loss: the packet is dropped. Losses show in the stack's statistics as
//     drops of the impair layer with reason [DropLoss] ("impair-loss"), and
//     only there (there is no "dropped" counter, so nothing is counted
//     twice).
//   - corrupt: one byte, chosen uniformly, is XORed with a random non-zero
//     mask (an empty packet is left alone). The layer first calls
//     Packet.Writable: a packet shared with a retransmission buffer above is
//     copied, and the original bytes stay intact.
//   - delay: the packet leaves delay + U[−jitter, +jitter] later, clamped at
//     0, on the stack clock. Delayed packets wait in one min-heap ordered by
//     due time, ties in arrival order, behind one stack timer
//     (Binding.SetTimer). Jitter larger than the spacing of packets
//     reorders them; nothing is lost by it.
//   - reorder: when the packet would leave, it is held back instead (if
//     nothing is held in its direction yet) and released right after the
//     next packet that leaves in the same direction, so the two swap. With
//     reorder=100% a stream leaves as 1,0,3,2,5,4… If no packet comes within
//     reorderwait, the timer releases the held packet on its own. Since a
//     packet arriving while one is held always passes (and releases it),
//     the share of packets actually held is reorder/(1+reorder): 9.1% at
//     reorder=10%, 50% at 100%.
//   - dup: when the packet leaves, a clone (Packet.Clone) follows it
//     immediately.
//
// Counters (stack.Stats, the layer's Counters): "corrupted", "delayed"
// (packets given a positive delay), "reordered" (held packets that were
// actually overtaken; one released by its timer is not counted),
// "duplicated" (extra copies sent).
//
// At equal times, delayed packets leave first (in arrival order), then held
// packets whose wait is over, then a packet arriving at that instant.
//
// # Bursty loss: the Gilbert–Elliott chain
//
// With burst = 1 each packet is lost independently with probability loss.
// With burst > 1 losses come from a two-state Markov chain, good (G, the
// packet passes) and bad (B, the packet is lost), in the simple
// Gilbert–Elliott form where G never loses and B always does. Before each
// packet the chain moves G→B with probability p and B→G with probability r,
// and the packet is lost when the chain is then in B. It starts in G.
//
// A run of losses ends with probability r at each packet, so its length is
// geometric with mean 1/r, and a run of passes has mean 1/p. The long-run
// share of packets in B is p/(p+r). Asking for mean burst b and loss rate L:
//
//	r = 1/b
//	p = r·L/(1−L) = L / (b·(1−L))
//
// p is a probability only when L ≤ b/(1+b) (passes between bursts average
// at least one packet); a larger loss for the burst is refused with an
// error saying how to fix it (loss=50% needs burst ≥ 1, loss=80% burst ≥ 4,
// loss=90% burst ≥ 9). loss=100% drops everything whatever burst says.
// [Config.Transitions] returns p and r.
//
// # Seeds and determinism
//
// Each direction has its own PCG stream (math/rand/v2 NewPCG(seed, c) with
// a constant c per direction), and every packet consumes exactly six draws
// whatever the configuration, so the fate of the n-th packet in a direction
// depends only on the seed, the direction and n (and, for the corrupted
// byte's position, the packet's length). Same seed and same packet
// sequence: same losses, holds, duplicates, corruptions and delays. Which
// packet overtakes a held one also depends on when packets arrive, which a
// test drives with a stack.ManualClock.
//
// seed=0 (the default) picks a random non-zero seed when the layer is
// bound, so a demo gets different damage every run. The layer logs it
// through Binding.Logger at level Info, emits an event of kind "seed" with
// Detail "seed=N" (the stack hands events over after a call into it, so the
// event arrives with the first packet or timer), and returns it from
// [Layer.Seed]. Putting seed=N in the QoS string repeats the run. A fixed
// seed is only logged at level Debug. The identity configuration picks a
// seed but reports nothing.
//
// # Direction
//
// dir=down (the default) damages packets on their way down only, dir=up on
// their way up only, dir=both each direction with its own stream and loss
// state. The default suits the usual case where both ends build their stack
// from the same QoS string (the receiver from the one the sender
// announces): the sender damages its data on the way down, the receiver
// damages its feedback on the way down, and each direction of the flow is
// damaged exactly once. dir=both in a shared QoS string damages each
// direction twice.
//
// # Limitations
//
// The layer never parses packets: garbage passes as any other packet. It
// does not model bandwidth or queue limits, and it holds at most one packet
// per direction for reordering. Delayed packets are held without a memory
// bound (delay ≤ 10s keeps this finite; mind the rate). Errors from passing
// on packets other than the one being handled (a released held packet, a
// duplicate, anything the timer releases) are dropped, as a network would.
// Empty marker packets flagged stack.FlagSkip pass untouched and
// undelayed: they are not traffic. Close releases every held and delayed
// packet.
package impair
