package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/posting"
)

// Note is what the members say.
type Note struct {
	N    int
	Text string
}

func init() { posting.Register[Note]("rwanda.examples/keyed.Note") }

func main() {
	if err := run("mem://keyed-example"); err != nil {
		log.Fatal(err)
	}
}

func newKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func run(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Ana and Ben share key 1; each keeps it in a ring, for rotation.
	k1 := newKey()
	anaRing, _ := keys.NewRing(1, k1)
	benRing, _ := keys.NewRing(1, k1)
	ana, err := channel.Open(ctx, url, channel.WithKeyRing(anaRing))
	if err != nil {
		return err
	}
	defer ana.Close()
	ben, err := channel.Open(ctx, url, channel.WithKeyRing(benRing))
	if err != nil {
		return err
	}
	defer ben.Close()
	// Eve is on the same hub with a key of her own.
	eve, err := channel.Open(ctx, url, channel.WithKey(newKey()))
	if err != nil {
		return err
	}
	defer eve.Close()
	eveHears, _ := eve.Subscribe()

	notes, err := channel.SubscribeTyped[Note](ben)
	if err != nil {
		return err
	}
	say := func(n int, text string) error {
		if err := ana.Push(ctx, posting.New(Note{n, text}, posting.WithStream("notes"))); err != nil {
			return err
		}
		got, _, err := notes.Next(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("ben got note %d under key %d: %s\n", got.N, anaRing.Current(), got.Text)
		return nil
	}
	fmt.Println("ana's stream runs", ana.QoS("notes"), "(encrypt is added to every stream of a keyed channel)")
	if err := say(1, "the exam is on Friday"); err != nil {
		return err
	}

	// Rotation: add the new key everywhere, switch to it, drop the old.
	k2 := newKey()
	if err := benRing.Add(2, k2); err != nil {
		return err
	}
	if err := anaRing.Add(2, k2); err != nil {
		return err
	}
	if err := anaRing.Use(2); err != nil {
		return err
	}
	if err := say(2, "room 101, not 102"); err != nil {
		return err
	}
	if err := anaRing.Remove(1); err != nil {
		return err
	}
	if err := say(3, "bring a pencil"); err != nil {
		return err
	}

	st := eve.Stats()
	fmt.Printf("eve got %d postings; she dropped %d datagrams she could not authenticate\n",
		eveHears.Stats().Delivered, st.Drops["unauthenticated"]+st.Drops["unknown-key"])
	return nil
}
