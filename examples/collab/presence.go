package main

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Hello is a participant's presence heartbeat (stream "presence"), pushed
// when it joins and every heartbeat interval; Bye is true in the last one,
// pushed as it leaves.
type Hello struct {
	Name string
	Bot  bool
	Bye  bool
	// Image names the tiled image this participant shares ("": none) and
	// ImageSeq when it shared it (Unix ns): the newest is shown.
	Image    string `msgpack:",omitempty"`
	ImageSeq int64  `msgpack:",omitempty"`
}

// Member is one participant in the roster a page shows.
type Member struct {
	ID   string `json:"id"`  // the channel member id, hexadecimal (as the gateway names senders)
	Key  string `json:"key"` // unique in the roster: ID, or ID/name for a bot (a process's bots share a member)
	Name string `json:"name"`
	Bot  bool   `json:"bot,omitempty"`
	Self bool   `json:"self,omitempty"`
}

// presence is who is in the session: participants heard from within the
// departure timeout, each a member id and a name (the bots of a process
// share a member). Time is an input; it is not safe for concurrent use.
type presence struct {
	timeout time.Duration // a participant silent this long has left
	max     int           // participants kept; past it a heartbeat from a new one is ignored
	last    map[who]seen
}

type who struct {
	id   uint64
	name string
}

type seen struct {
	hello Hello
	at    time.Time
}

func newPresence(timeout time.Duration, max int) *presence {
	return &presence{timeout: timeout, max: max, last: make(map[who]seen)}
}

// heard records a heartbeat from member id at now and reports whether
// the roster changed (a join, a rename or a departure).
func (p *presence) heard(id uint64, h Hello, now time.Time) bool {
	k := who{id, h.Name}
	old, known := p.last[k]
	if h.Bye {
		delete(p.last, k)
		return known
	}
	if !known && len(p.last) >= p.max {
		return false
	}
	p.last[k] = seen{h, now}
	return !known || old.hello != h
}

// Departure is a participant that fell silent: when its last heartbeat
// arrived and when it was found gone (Unix ms).
type Departure struct {
	Key       string `json:"key"`
	Name      string `json:"name"`
	LastHeard int64  `json:"lastHeard"`
	Gone      int64  `json:"gone"`
}

// expire removes the participants silent for the timeout at now and
// returns them.
func (p *presence) expire(now time.Time) []Departure {
	var gone []Departure
	for k, s := range p.last {
		if now.Sub(s.at) >= p.timeout {
			delete(p.last, k)
			key := strconv.FormatUint(k.id, 16)
			if s.hello.Bot {
				key += "/" + k.name
			}
			gone = append(gone, Departure{Key: key, Name: k.name, LastHeard: s.at.UnixMilli(), Gone: now.UnixMilli()})
		}
	}
	return gone
}

// members lists the roster, sorted by name then id.
func (p *presence) members() []Member {
	ms := make([]Member, 0, len(p.last))
	for k, s := range p.last {
		m := Member{ID: strconv.FormatUint(k.id, 16), Name: s.hello.Name, Bot: s.hello.Bot}
		m.Key = m.ID
		if m.Bot {
			m.Key += "/" + m.Name
		}
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b Member) int {
		if a.Name != b.Name {
			if a.Name < b.Name {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Key, b.Key)
	})
	return ms
}
