// Command collab is the collaboration app: a participant process that joins
// a session (a channel: multicast on the LAN, iface=lo on one machine) and
// serves a web page to its user. The page talks to its own participant over
// WebSocket and shows a shared whiteboard with everyone's pointer, chat,
// who is present, floor control for the presenter role and for speaking
// (the queue visible), push-to-talk audio with a level meter per speaker,
// and a shared image.
//
//	go run ./examples/collab -name ana -http 127.0.0.1:8081   # open http://127.0.0.1:8081/
//	go run ./examples/collab -name ben -http 127.0.0.1:8082
//	go run ./examples/collab -name cy  -http 127.0.0.1:8083 -bots 3
//
// Several processes on one machine, or on a LAN (name the interface in the
// URL's iface=), form one session. See README.md.
package main
