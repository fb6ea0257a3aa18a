package main

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/playout"
	"github.com/rwanda-go/rwanda/posting"
)

// Audio is 16-bit little-endian mono PCM at 16 kHz, 20 ms (640 bytes) a
// posting, on the channel's audio profile (best effort, 100 ms TTL).
const (
	sampleRate   = 16000
	maxSpeakers  = 32               // remote speakers played at once
	speakerIdle  = 10 * time.Second // a speaker silent this long is forgotten
	audioPushTTL = 100 * time.Millisecond
)

// speak pushes a frame the page captured if this participant holds the
// speak floor with a valid lease, and reports whether it did.
func (p *Participant) speak(pcm []byte) bool {
	if !p.floors[floorSpeak].holding() {
		return false
	}
	ctx, cancel := context.WithTimeout(p.ctx, time.Second)
	defer cancel()
	err := p.ch.Push(ctx, posting.New(pcm, posting.WithStream(streamAudio), posting.WithMedia(posting.Audio), posting.WithTTL(audioPushTTL)))
	return err == nil
}

// speakers plays the remote audio: a playout buffer per speaker, whose
// frames go to the pages as they fall due, with their level.
type speakers struct {
	p   *Participant
	sub *channel.Subscription

	mu    sync.Mutex
	by    map[uint64]*speaker
	wake  chan struct{}
	done  chan struct{}
	wg    sync.WaitGroup
	late  atomic.Uint64
	count atomic.Uint64
}

type speaker struct {
	buf  *playout.Buffer
	last time.Time
}

// AudioStats counts the audio played.
type AudioStats struct {
	Played   uint64 `json:"played"`   // frames handed to the pages
	Refused  uint64 `json:"refused"`  // frames the playout buffer refused (late, copies)
	Speakers int    `json:"speakers"` // speakers held
}

func newSpeakers(p *Participant) (*speakers, error) {
	s := &speakers{p: p, by: map[uint64]*speaker{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
	var err error
	s.sub, err = p.ch.SubscribeFunc(s.receive, channel.Streams(streamAudio))
	if err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.loop()
	return s, nil
}

func (s *speakers) stats() AudioStats {
	s.mu.Lock()
	n := len(s.by)
	s.mu.Unlock()
	return AudioStats{Played: s.count.Load(), Refused: s.late.Load(), Speakers: n}
}

func (s *speakers) receive(q *posting.Posting) {
	if _, ok := q.Body.([]byte); !ok {
		return
	}
	now := time.Now()
	s.mu.Lock()
	sp := s.by[q.Sender]
	if sp == nil {
		if len(s.by) >= maxSpeakers {
			s.mu.Unlock()
			s.late.Add(1)
			return
		}
		id := q.Sender
		sp = &speaker{buf: playout.New(playout.Config{InitialDelay: 60 * time.Millisecond,
			Offset: func() (time.Duration, bool) { return s.p.ch.ClockOffset(id) }})}
		s.by[q.Sender] = sp
	}
	sp.last = now
	ok := sp.buf.Push(q, now)
	s.mu.Unlock()
	if !ok {
		s.late.Add(1)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// loop plays what falls due.
func (s *speakers) loop() {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		var out []*posting.Posting
		next := now.Add(time.Second)
		s.mu.Lock()
		for id, sp := range s.by {
			for q := sp.buf.Next(now); q != nil; q = sp.buf.Next(now) {
				out = append(out, q)
			}
			if due, ok := sp.buf.Due(); ok && due.Before(next) {
				next = due
			} else if !ok && now.Sub(sp.last) > speakerIdle {
				delete(s.by, id)
			}
		}
		s.mu.Unlock()
		for _, q := range out {
			pcm := q.Body.([]byte)
			msg, _ := json.Marshal(map[string]any{"t": "audio", "from": strconv.FormatUint(q.Sender, 16),
				"pcm": base64.StdEncoding.EncodeToString(pcm), "level": level(pcm)})
			s.p.pages.played(msg)
			s.count.Add(1)
		}
		timer.Reset(max(next.Sub(time.Now()), 0))
		select {
		case <-s.done:
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

func (s *speakers) close() {
	s.sub.Close()
	close(s.done)
	s.wg.Wait()
}

// level is the frame's RMS level, 0 (silence) to 1 (full scale).
func level(pcm []byte) float64 {
	n := len(pcm) / 2
	if n == 0 {
		return 0
	}
	var sum float64
	for i := range n {
		v := float64(int16(binary.LittleEndian.Uint16(pcm[2*i:]))) / 32768
		sum += v * v
	}
	return math.Round(math.Sqrt(sum/float64(n))*1e4) / 1e4
}
