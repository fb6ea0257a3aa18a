package main

// The board's history: a participant keeps the last maxBoard stroke pieces
// (those it received and those its pages drew) and serves them to
// newcomers (service "collab/board"), so that a page opened late, or on a
// participant that joined late, shows the strokes drawn before.

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

const (
	maxBoard     = 2000 // pieces kept
	boardService = "collab/board"
)

// Piece is a stroke piece as the history keeps it: its sender (member id,
// hexadecimal) and the posting's text (a Stroke, or a clear).
type Piece struct {
	Sender string `json:"sender"`
	Text   string `json:"text"`
}

type pieceKey struct {
	sender string
	n      uint64
}

// board is the history, bounded, without duplicates (sender and N).
type board struct {
	mu     sync.Mutex
	pieces []Piece
	keys   map[pieceKey]bool
}

func newBoard() *board { return &board{keys: map[pieceKey]bool{}} }

func keyOf(p Piece) (pieceKey, bool) {
	var s struct {
		N uint64 `json:"n"`
	}
	if json.Unmarshal([]byte(p.Text), &s) != nil || s.N == 0 {
		return pieceKey{}, false
	}
	return pieceKey{p.Sender, s.N}, true
}

// add appends pieces not held yet (all of them if front is false; before
// what is held if front is true: a history that came late), then drops the
// oldest beyond maxBoard.
func (b *board) add(front bool, ps ...Piece) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var fresh []Piece
	for _, p := range ps {
		k, ok := keyOf(p)
		if !ok || b.keys[k] {
			continue
		}
		b.keys[k] = true
		fresh = append(fresh, p)
	}
	if front {
		b.pieces = append(fresh, b.pieces...)
	} else {
		b.pieces = append(b.pieces, fresh...)
	}
	if n := len(b.pieces) - maxBoard; n > 0 {
		for _, p := range b.pieces[:n] {
			if k, ok := keyOf(p); ok {
				delete(b.keys, k)
			}
		}
		b.pieces = append([]Piece(nil), b.pieces[n:]...)
	}
}

func (b *board) all() []Piece {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Piece(nil), b.pieces...)
}

// received logs a stroke piece from the channel.
func (p *Participant) received(q *posting.Posting) {
	if s, ok := q.Body.(string); ok {
		p.board.add(false, Piece{Sender: strconv.FormatUint(q.Sender, 16), Text: s})
	}
}

// serveBoard answers a newcomer with the history.
func (p *Participant) serveBoard(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
	b, err := json.Marshal(p.board.all())
	if err != nil {
		return nil, err
	}
	return posting.New(string(b)), nil
}

// fetchBoard asks another participant for the history, once, after
// joining, and tells the pages.
func (p *Participant) fetchBoard() {
	defer p.wg.Done()
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	rep, err := p.ch.PullName(ctx, boardService, posting.New("history", posting.WithMedia(posting.Control)))
	if err != nil {
		slog.Debug("collab: no board history", "err", err) // alone, or the others are gone
		return
	}
	s, _ := rep.Body.(string)
	var ps []Piece
	if err := json.Unmarshal([]byte(s), &ps); err != nil {
		slog.Warn("collab: board history", "err", err)
		return
	}
	p.board.add(true, ps...)
	p.pages.mark(dirtyBoard)
}
