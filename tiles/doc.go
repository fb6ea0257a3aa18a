// Package tiles is the dynamic image protocol: it shares an image or a
// screen that changes over a channel, to any number of receivers, by
// diffing frames into tiles, compressing the changed tiles and sending
// each as a latest-wins posting, with repairs for losses, a random
// periodic refresh, and a snapshot for receivers that join late (after the
// Odust thesis's protocol; VNC's tiles, multicast).
//
// # Usage
//
//	ch, _ := channel.Open(ctx, "share://239.7.7.9:7402?iface=eth0")
//	s, _ := tiles.NewChannelSender(ch, "screen", tiles.Config{})
//	defer s.Close()
//	s.Frame(img) // each frame: *image.RGBA, or any image.Image (converted)
//
//	r, _ := tiles.NewChannelReceiver(ch2, "screen", tiles.RecvConfig{})
//	defer r.Close()
//	<-r.Updated(); img := r.Image(); stale := r.Stale()
//
// The protocol itself is in [Sender] and [Receiver], which do no I/O: they
// take frames and messages with the time and say what to send and when to
// call them next, so that tests drive them on a simulated clock through a
// simulated lossy network. [ChannelSender] and [ChannelReceiver] run them
// on a channel, with a goroutine and a timer each. [Desktop] generates the
// seeded synthetic desktop the targets are measured on.
//
// # The protocol
//
// The sender diffs each frame against the last, tile by tile (32×32 by
// default, [Config].Tile: smaller tiles fit a datagram more often, so a
// 5 % datagram loss spoils fewer of them; see bench/RESULTS.md), and
// compresses each changed tile: its RGB rows,
// each byte minus the one to its left (PNG's Sub filter), with zstd. A
// changed tile gets a new version (counting from 1 per tile). Messages
// (wire format in wire.go; [Decode]) travel as []byte posting bodies:
//
//   - Tiles, on the stream named by the image's name, each a latest-wins
//     posting with key "tN" (tile N) and a TTL ([WithTTL], 2 s): a newer
//     version of a tile supersedes an older one in the sender's queues and
//     the channel's, so a superseded tile is never sent again. A tile
//     message carries the geometry, the tile's index and version, the
//     frame, why it was sent (update, refresh, snapshot, repair) and, in a
//     snapshot pass, how many tiles are left.
//   - Manifests, on the same stream, after each frame's tiles and again a
//     Tick later: the versions of the tiles changed in the last two
//     frames. A receiver that learns of a version newer than it holds
//     NAKs it after [RecvConfig].NakDelay (20 ms), and again after
//     NakRetry (50 ms), twice as long each further time, until it holds
//     it. A receiver takes every message queued before it NAKs: a tile
//     still in its queue is late, not lost.
//   - Join requests and NAKs, from receivers on [CtlStream] (NAME/ctl).
//     The sender answers a NAK for the tile's current version with one
//     repair, however many receivers NAK it within [Config].RepairHold
//     (20 ms); a NAK for a version already superseded gets nothing, since
//     the newer version was sent (and is NAKed of its own if lost).
//
// Refresh: every tile is sent again at a random time between half and
// one and a half refresh periods after it was last sent for any reason
// ([Config].Refresh, 60 s by default: on the synthetic desktop that costs
// about 1.5 % of the stream's bytes; see bench/RESULTS.md). It heals what
// NAKs cannot (a loss whose manifests were all lost, a sender that lost
// its receivers' NAKs) and bounds how long a tile may stay wrong; a tile
// not heard of for two periods is reported stale.
//
// Snapshot: a receiver sends a join request when it starts. The sender
// waits [Config].Gather (50 ms) for other joiners, then sends every tile
// once, its current version, in one pass; join requests that arrive
// during the gather share the pass, and one that arrives during the pass
// extends it to a full turn from where it is. A join therefore costs at
// most one full image. A joiner NAKs what it still lacks when the pass
// has ended (its last tile says so) or JoinWait (300 ms) after its last
// tile. A join before the sender's first frame costs nothing: the first
// frame sends every tile.
//
// Everything the sender sends is paced ([Config].Rate, 8 MiB/s, in
// [Config].Tick steps of 10 ms): a frame's tiles and manifest first, then
// repairs and the snapshot pass taking turns, then refreshes.
//
// # Stacks
//
// The protocol repairs its own losses, so the tile stream needs no
// reliability from the channel: on the channel's default stack, a TTL
// makes the stream semi-reliable (the window repairs a packet only until
// its TTL and never a superseded one); a best-effort stack
// (channel.WithStreamQoS(name, "frag/order/window(mode=besteffort)"))
// leaves the repairs to the protocol. The media class is left to the
// channel (Data): the image profile's refresh layer would send every kept
// parcel again each period, which this package does per tile, at random
// times, instead.
//
// # Concurrency
//
// [Sender], [Receiver], [Encoder] and [Desktop] are not safe for
// concurrent use. [ChannelSender] and [ChannelReceiver] are; their Close
// stops their goroutine and timer and leaves the channel open.
//
// # Limits
//
// Tiles carry RGB: alpha is dropped, and receivers' images are opaque.
// Frames keep the first frame's size ([ErrSize]); images are at most
// 8192×8192 and 65 536 tiles, receivers refuse images larger than
// [RecvConfig].MaxPixels (4096×4096), and decompression is capped at the
// tile's size: a message that does not decode or fit is counted as
// malformed and dropped. A receiver follows one sender per image name
// (the first it hears, until that one is silent for two refresh periods).
// The channel does not authenticate NAKs and join requests unless it is
// keyed: a member that NAKs every tile costs the sender its pacing rate.
// The snapshot and repairs are multicast: every receiver gets them.
package tiles
