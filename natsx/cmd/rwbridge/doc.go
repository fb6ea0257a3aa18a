// Command rwbridge bridges a site's rwanda channel to other sites through
// NATS: it joins the site's channel (multicast, say) and a NATS subject,
// and relays datagrams both ways (see package
// github.com/rwanda-go/rwanda/natsx/bridge). It holds no key: keyed
// channels cross it encrypted and authenticated end to end.
//
// With no -nats server named it starts one of its own (embedded
// nats-server), so a two-site demo is one command per site:
//
//	site A: rwbridge -lan 'lesson://239.1.2.3:7400?channel=lesson' -leaf-listen 0.0.0.0:7422
//	site B: rwbridge -lan 'lesson://239.1.2.3:7400?channel=lesson' -leaf-remote nats-leaf://site-a:7422
//
// Site B's server connects to site A's as a leaf node; members at both
// sites use the channel's usual URL, and the WAN profile
// (bridge.WANProfile: window rcvtimeout=30s, announce interval 3 s) to
// ride out WAN outages. With -nats nats://hub:4222 the bridge uses that
// server instead (a cluster, a leaf node of a hub: NATS carries the
// subject between sites).
//
// It runs until interrupted, then prints its counters.
package main
