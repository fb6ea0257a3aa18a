// Package fec is forward error correction below a window: Reed-Solomon
// parity (github.com/klauspost/reedsolomon) over blocks of the packets a
// window sends, sent with the data as much as the loss the receivers
// report calls for, and sent in answer to NAKs so that on multicast one
// repair packet serves every receiver missing any one packet of a block.
//
// Importing the package registers the layer as "fec". It belongs right
// below the window (and above impair, encrypt or anything that works per
// datagram):
//
//	media/fec                          frag/order/window(ttl=200ms)/fec
//	reliable/fec(parity=auto)
//	frag/order/window/fec(parity=off)  multicast: parity only for NAKs
//
// # Parameters
//
//	name      kind        default  meaning
//	parity    identifier  auto     auto: parity with each block from the measured loss; off: none unasked
//	fixed     int         0        parity shards with every block whatever the loss (overrides parity)
//	residual  percent     2%       share of blocks auto lets parity alone leave unrepaired
//	k         int         32       most data packets in a block (1..128)
//	wait      duration    0s       how long a block stays open for more packets (0s: the end of the burst)
//	hold      duration    20ms     longest a receiver holds packets behind a loss while parity is coming
//	round     duration    100ms    NAKs within a round of the first get only parity beyond what it sent
//	keep      duration    1s       how long either end keeps a block for repair
//	buffer    size        4MiB     bytes of blocks either end keeps
//	report    duration    250ms    how often receivers report loss
//	repair    bool        true     answer NAKs with parity
//
// [Config] holds the same settings for code that builds layers with [New].
//
// # Blocks
//
// The sender puts the window's new data packets (not its control packets,
// not its retransmissions, which pass with a one-byte header) into
// blocks, in the order of their sequence numbers (stack.Meta.Seq, which
// the window sets on the way down). A block closes when it holds k
// packets, when the numbers stop following each other or when the frame
// id (relay metadata) changes, so parity never spans frames, and, when it
// has parity to send, when the call into the stack that opened it is over
// (wait 0: the stack's timer fires right after it) or wait after its
// first packet. A posting's fragments, which frag hands down in one call,
// so make one block (or one per burst the window lets out); with wait,
// small packets pushed apart share one. A block without parity to send
// stays open until it is full, a NAK touches it, or (when set) wait has
// passed, besides the number and frame rules: parity for NAKs then
// covers more packets, and one shard repairs more receivers' different
// losses. With repair=false, data that would get no parity passes with
// the one-byte header, in no block.
//
// Each data packet carries its block, its index and the parity the
// sender expects to send with the block; each parity shard the block's
// size and the parity it was sent with. Shards are as long as the
// block's longest packet and its length (2 bytes): the layer's overhead
// is 12 bytes, the parity header and that length, so a parity packet
// fits wherever the block's data did.
//
// # How much parity
//
// With parity=auto the sender sends, when a block of k packets closes,
// the fewest m parity shards for which more than m losses among the k+m
// packets have a probability of at most residual, losses being taken as
// independent at the worst receiver's rate ([ParityFor]; at most k/2).
// With no loss reported it sends none. A block's data packets announce
// the parity a block the size of the previous one would get; when they
// announced some, the block gets at least one. The rate comes from the
// receivers: each counts the DATA and PARITY packets it got against the
// numbers the sender gave them (loss on the path, before any repair) and
// reports every report period while packets come; the sender keeps for
// each receiver (at most 256, by stack.Meta.Peer) a sum of reports
// decayed by 7/8 a report, weighted by the packets each covers, and
// forgets a receiver silent for ten report periods. fixed=N sends N
// whatever the loss; parity=off sends none unasked.
//
// At 2% loss, blocks of 16 get 2 parity shards (12.5% overhead): 99.48%
// of blocks are repaired by parity alone; the window repairs the rest.
//
// # Receivers: repaired, not requested
//
// A receiver passes data packets up as they come, and keeps a copy of
// each (for keep, within buffer). When a packet arrives behind a loss in
// a block whose parity is coming, it holds that packet and the block's
// later ones — for hold at most, until the last parity sent with the
// block has come, or until a packet of another block arrives — so the
// window above does not see the hole. As soon as the block has as many
// packets and shards as it has data packets it rebuilds what is missing
// and passes it up with what it held, in block order; the window then
// sees every packet (acknowledges without a hole, sends no NAK) and
// retransmits nothing. A block it cannot rebuild is passed up as it is
// and the window repairs it as usual.
//
// # NAKs answered with parity
//
// In a sender's stack the layer reads the NAKs that pass up to the window
// (window.NakSpans; overheard NAKs at receivers are left alone). For each
// block kept and not obsolete that a NAK asks numbers of, it sends as
// many new parity shards as the NAK asks numbers of the block (at most
// the block's size per round), and passes up to the window a NAK with
// those numbers taken out (window.AppendNak), or nothing when none is
// left (the receiver's status still tells the window it is there).
// Later NAKs for the block within round of its last shard sent get only
// what they ask beyond what the round already sent: receivers that lost
// different packets of the block, and repeated NAKs of a receiver whose
// repair is on its way, cost nothing more. Numbers of blocks no longer kept, or obsolete, stay
// in the NAK for the window. The window's repair budget does not apply
// to parity: a block costs at most its own size in parity per round.
//
// # Time to live
//
// A block's deadline is the latest of its packets' deadlines (none if
// any packet has none). A block whose deadline has passed when it closes
// gets no parity (counted "expired"), a NAK for it is left to the window
// (which skips what is obsolete), and it is forgotten. Parity packets
// carry the block's deadline, media class and droppable flag, for relays.
//
// # Counters and drops
//
// Counters (stack.Stats): "protected" (data packets sent in blocks),
// "parity-sent" (all parity shards), "parity-repair" (of those, sent for
// NAKs), "parity-bytes" (their shard bytes), "recovered" (data packets
// rebuilt), "parity-useless" (shards received for a block that lacked
// nothing), "blocks", "expired", "reports", "held", "hold-expired",
// "nak-answered", "nak-suppressed", "inconsistent", "no-memory",
// "buffer-full", "encode-failed", "reconstruct-failed". Drops:
// "malformed" (a header that does not decode, a bad report),
// "duplicate", "inconsistent" (a parity shard that disagrees with its
// block's size or length, a data packet beyond its block's size),
// "bad-shard" (a rebuilt packet whose length does not fit its shard).
//
// # Wire format
//
//	DATA    'd' | seq 2 | block 4 | index 1 | parity 1 | packet
//	PARITY  'q' | seq 2 | block 4 | index 1 | k 1 | parity 1 | shard
//	PASS    'p' | packet
//	REPORT  'r' | loss ppm uvarint | packets uvarint
//
// See [Header]. A block has at most 128 data packets and 256 shards.
//
// # Memory
//
// Either end keeps copies of at most buffer bytes of blocks (the oldest
// go first; a sender's open block, at most k packets, may come on top),
// closed blocks for at most keep, each charged to the stack's memory budget
// (stack.Binding.Memory); a receiver knows of at most 4096 blocks, and
// holds at most one block's packets back. Codecs are shared by all
// layers, at most 512 of them.
//
// # Limitations
//
// The loss the parity follows is the one fec's own receivers report, not
// the monitor layer's figure: a layer cannot reach another layer of its
// stack. Loss is taken as independent: bursts longer than a block's
// parity defeat it (the window repairs them). A receiver holds only
// behind the first loss of one block at a time. Retransmissions are not
// protected. Ack mode (point to point) has no NAKs, so only parity sent
// with the data is used there. Reports and parity are not authenticated
// beyond what the layers below provide: a forged report can make a
// sender send more parity (at most k/2 per block), forged NAKs at most
// a block's worth of parity per block and round.
package fec
