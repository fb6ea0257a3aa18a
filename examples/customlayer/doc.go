// Command customlayer writes a protocol layer, registers it, and runs a
// channel whose stream carries it: "stamp" puts the send time in front of
// every packet and, on the receiving side, measures how old each packet
// is when it arrives, drops those older than its maxage parameter, and
// counts both in Stats.
//
//	go run ./examples/customlayer
//
// The QoS string "stamp(maxage=500ms)/reliable" puts it above the
// reliable profile's layers (frag/order/window), application side first.
// Receivers build the stack the sender announces, so every member must
// have the layer registered (here: one process).
package main
