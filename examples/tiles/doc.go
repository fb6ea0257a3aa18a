// Command tiles shares an image file over a multicast channel with the
// dynamic image protocol (package tiles): the sender sends the file's
// tiles, and again the tiles that change whenever the file does; receivers
// compose the image and write it out. Receivers may join at any time: they
// ask for a snapshot.
//
// Two terminals on one host (name your LAN interface in iface= to share
// across machines):
//
//	go run ./examples/tiles -send photo.png
//	go run ./examples/tiles -recv copy.png
//
// With -demo it shares a file in one process, on a group of its own, with
// a receiver there from the start and one that joins after the file has
// changed, checks that both hold the file's image, and exits.
package main
