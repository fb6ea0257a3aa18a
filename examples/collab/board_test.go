package main

import (
	"fmt"
	"testing"
)

func piece(sender string, n int) Piece {
	return Piece{Sender: sender, Text: fmt.Sprintf(`{"n":%d,"pts":[[1,2]]}`, n)}
}

// TestBoard: the history keeps pieces once (by sender and N), a history
// that came late goes before what is held, and the oldest go beyond the
// bound.
func TestBoard(t *testing.T) {
	b := newBoard()
	b.add(false, piece("a", 3), piece("a", 4), piece("a", 3), Piece{Sender: "a", Text: "not a piece"})
	b.add(true, piece("a", 1), piece("a", 2), piece("a", 3))
	got := b.all()
	if len(got) != 4 {
		t.Fatalf("%d pieces, want 4: %v", len(got), got)
	}
	for i, p := range got {
		if p != piece("a", i+1) {
			t.Fatalf("piece %d: %v, want %v", i, p, piece("a", i+1))
		}
	}
	for i := range maxBoard + 10 {
		b.add(false, piece("b", i+1))
	}
	got = b.all()
	if len(got) != maxBoard || got[0] != piece("b", 11) || len(b.keys) != maxBoard {
		t.Fatalf("%d pieces from %v (%d keys), want %d from b/11", len(got), got[0], len(b.keys), maxBoard)
	}
	b.add(false, piece("a", 1)) // forgotten: taken again
	if got := b.all(); got[len(got)-1] != piece("a", 1) {
		t.Fatal("a piece dropped from the history was not taken again")
	}
}
