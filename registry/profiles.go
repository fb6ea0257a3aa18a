package registry

// The built-in profiles. Their layers arrive with the reliability issue
// (window, order): until those layers are registered, resolving a profile
// that names them fails with ErrUnknownLayer rather than quietly giving
// less than its name promises.
var builtinProfiles = []Profile{
	{Name: "none", QoS: "", Doc: "no layers: one posting per datagram, best effort, no fragmentation"},
	{Name: "reliable", QoS: "frag/order/window", Doc: "every posting delivered once, in order, retransmitted until acknowledged"},
	{Name: "media", QoS: "frag/order/window", Doc: "frames delivered whole and in order, retransmitted only while they can still arrive before their TTL"},
	{Name: "realtime", QoS: "frag/order/window", Doc: "best effort and ordered: late packets are dropped, never waited for"},
	{Name: "bulk", QoS: "frag/window", Doc: "large transfers: big windows and fragmentation, reliable"},
}

func init() {
	for _, p := range builtinProfiles {
		defaultRegistry.RegisterProfile(p)
	}
}
