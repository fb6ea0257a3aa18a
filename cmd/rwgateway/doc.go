// Command rwgateway relays multicast channels to unicast UDP clients
// (package gateway):
//
//	rwgateway -url 'classroom://239.7.7.7:7400?iface=eth0&channel=lesson' -listen :7500
//
// Clients open classroom://HOST:7500?channel=lesson, or the group's URL
// naming the gateways, classroom://239.7.7.7:7400?channel=lesson&gateway=HOST:7500,HOST2:7500,
// which joins the group directly when it can, else goes through the
// nearest gateway and moves to the next when it falls silent.
//
// -url and -listen may be given several times, in pairs: one gateway per
// channel, all listed in one directory, which any of them answers:
//
//	rwgateway -dir HOST:7500
//
// prints the channels the gateway at HOST:7500 serves (URL, then the
// address its clients send to) and exits. -advertise HOST names this host
// in the directory (default: the listening address as bound).
//
// -ws ADDR serves browsers over WebSocket (package gateway/ws) at
// http://ADDR/ws, and the JavaScript client at /rwanda.js, through a
// member of the first -url's channel that the gateway opens. That member
// decodes postings, so on a keyed channel it needs the key (-key-file;
// DECISIONS §2); the UDP relay never does.
//
// It prints the gateways' counters every -stats period (0: never) and at
// exit (SIGINT, SIGTERM).
package main
