package registry

// The built-in profiles. Their layers live in the packages under layers/
// (frag, order, window), which register themselves when imported; the
// channel package imports them all.
var builtinProfiles = []Profile{
	{Name: "none", QoS: "",
		Doc: "no layers: one posting per datagram, best effort, no fragmentation"},
	{Name: "reliable", QoS: "frag/order/window",
		Doc: "every posting delivered once and in order, retransmitted until acknowledged (a posting's own TTL still makes it semi-reliable)"},
	{Name: "media", QoS: "frag/order/window(ttl=200ms)",
		Doc: "frames delivered whole and in order; a frame is retransmitted only while it can still arrive within its TTL (200ms unless the posting says otherwise), then skipped"},
	{Name: "realtime", QoS: "frag/order/window(mode=besteffort)",
		Doc: "best effort and ordered: never retransmitted, late packets dropped rather than waited for"},
	{Name: "bulk", QoS: "frag/window(size=4096,queue=16MiB)",
		Doc: "large transfers: a big window and queue, fragmentation, reliable; parcels are delivered as they complete, not ordered"},
}

func init() {
	for _, p := range builtinProfiles {
		defaultRegistry.RegisterProfile(p)
	}
}
