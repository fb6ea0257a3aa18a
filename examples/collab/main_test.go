package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"testing"
	"time"
)

// eventually polls cond every 5 ms until it holds or the limit passes.
func eventually(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond) // polling state, with a deadline
	}
}

func start(t *testing.T, url, name string, bots int) *Participant {
	t.Helper()
	p, err := Start(context.Background(), Config{URL: url, Name: name, HTTP: "127.0.0.1:0", Voters: []string{"ana", "ben"},
		Bots: bots, BotHz: 10, BotStroke: 2, BotChat: time.Second, Heartbeat: 500 * time.Millisecond, Departure: 2500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func inRoster(p *Participant, name string) bool {
	for _, m := range p.roster() {
		if m.Name == name {
			return true
		}
	}
	return false
}

// TestParticipants: participants in one process over multicast on
// loopback see each other and the bots; audio is pushed only while the
// speak floor is held, and is played out at the others; an image the
// presenter shares reaches a participant that joins afterwards, exactly,
// and so does the board's history; a goodbye removes a participant at
// once.
func TestParticipants(t *testing.T) {
	if testing.Short() {
		t.Skip("multicast on loopback")
	}
	url := fmt.Sprintf("collabtest://239.255.%d.%d:%d?iface=lo", rand.IntN(256), 1+rand.IntN(254), 20000+rand.IntN(30000))
	ana, ben := start(t, url, "ana", 2), start(t, url, "ben", 0)
	eventually(t, "ben sees ana and her bots", 5*time.Second, func() bool {
		return inRoster(ben, "ana") && inRoster(ben, "ana-bot1") && inRoster(ben, "ana-bot2")
	})
	eventually(t, "ana sees ben", 5*time.Second, func() bool { return inRoster(ana, "ben") })

	pcm := make([]byte, 640)
	for i := range 320 {
		v := int16(8000)
		if i%20 < 10 {
			v = -8000
		}
		pcm[2*i], pcm[2*i+1] = byte(v), byte(v>>8)
	}
	if ana.speak(pcm) {
		t.Fatal("ana's audio was pushed without the speak floor")
	}
	ana.floors[floorSpeak].request()
	eventually(t, "ana holds the speak floor", 10*time.Second, ana.floors[floorSpeak].holding)
	eventually(t, "ben plays ana's audio", 10*time.Second, func() bool {
		if !ana.speak(pcm) {
			t.Fatal("ana holds the speak floor but her audio was not pushed")
		}
		return ben.audio.stats().Played > 0
	})
	if l := level(pcm); l < 0.24 || l > 0.25 {
		t.Fatalf("level of a ±8000 square wave: %v, want 8000/32768", l)
	}
	ana.floors[floorSpeak].release()
	eventually(t, "ana releases the speak floor", 10*time.Second, func() bool { return !ana.floors[floorSpeak].holding() })

	// The image: refused from a participant that does not present.
	want := image.NewRGBA(image.Rect(0, 0, 200, 130))
	for y := range 130 {
		for x := range 200 {
			want.SetRGBA(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 0xff})
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, want)
	ben.img.upload(buf.Bytes())
	if name, _ := ben.img.shared(); name != "" {
		t.Fatal("ben shares an image without the presenter floor")
	}
	ben.floors[floorPresenter].request()
	eventually(t, "ben presents", 10*time.Second, ben.floors[floorPresenter].holding)
	ben.img.upload(buf.Bytes())
	if name, _ := ben.img.shared(); name == "" {
		t.Fatal("ben, the presenter, does not share the image")
	}
	mine := Piece{Sender: fmt.Sprintf("%x", ana.ch.ID()), Text: `{"n":7,"pts":[[1,1],[9,9]]}`}
	ana.board.add(false, mine)
	ben.board.add(false, mine)   // as if ben had received it: cy asks either
	cy := start(t, url, "cy", 0) // a late joiner
	eventually(t, "cy composes ben's image", 15*time.Second, func() bool {
		img, complete := cy.img.current()
		return complete && img != nil && bytes.Equal(img.Pix, want.Pix) && img.Rect == want.Rect
	})

	// The board's history: a piece ana's page drew (it reached ana's
	// history through her page's socket, not the channel) is in cy's,
	// which asked ana or ben for it when it joined.
	eventually(t, "cy has the piece from ana's page", 10*time.Second, func() bool {
		cy.board.mu.Lock()
		defer cy.board.mu.Unlock()
		return cy.board.keys[pieceKey{fmt.Sprintf("%x", ana.ch.ID()), 7}]
	})

	cy.Close()
	eventually(t, "cy's goodbye reaches ana", time.Second, func() bool { return !inRoster(ana, "cy") })
}
