package fec

import (
	"math"
	"sync"

	"github.com/klauspost/reedsolomon"
)

// encoders caches Reed-Solomon codecs by (data, parity) shards: building
// one inverts a matrix, so layers share them (an Encoder is safe for
// concurrent use). The cache holds at most maxEncoders; past it, it starts
// over.
var encoders struct {
	sync.Mutex
	m map[[2]int]reedsolomon.Encoder
}

const maxEncoders = 512

func encoder(k, m int) (reedsolomon.Encoder, error) {
	key := [2]int{k, m}
	encoders.Lock()
	e := encoders.m[key]
	encoders.Unlock()
	if e != nil {
		return e, nil
	}
	e, err := reedsolomon.New(k, m)
	if err != nil {
		return nil, err
	}
	encoders.Lock()
	if encoders.m == nil || len(encoders.m) >= maxEncoders {
		encoders.m = make(map[[2]int]reedsolomon.Encoder)
	}
	encoders.m[key] = e
	encoders.Unlock()
	return e, nil
}

// ParityFor is the parity Auto sends with a block of k data packets at
// loss rate loss: the fewest shards m such that more than m of the k+m
// packets are lost with probability at most residual (independent
// losses), and none at no loss. It is at most max(1, k/2) and what the
// shard limit allows.
func ParityFor(k int, loss, residual float64) int {
	if !(loss > 0) || k < 1 {
		return 0
	}
	loss = min(loss, 0.5)
	top := min(max(1, k/2), MaxShards-k)
	for m := 0; m < top; m++ {
		if tail(k+m, m, loss) <= residual {
			return m
		}
	}
	return top
}

// tail is the probability that more than m of n packets are lost, each
// independently with probability p.
func tail(n, m int, p float64) float64 {
	// 1 − Σ_{i≤m} C(n,i) p^i (1−p)^(n−i), summed in logs.
	var sum float64
	lp, lq := math.Log(p), math.Log1p(-p)
	for i := 0; i <= m; i++ {
		sum += math.Exp(lchoose(n, i) + float64(i)*lp + float64(n-i)*lq)
	}
	return max(0, 1-sum)
}

func lchoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// encode fills parity[0:len(parity)] for the data shards (all of one
// length, that of the parity shards).
func encode(data, parity [][]byte) error {
	e, err := encoder(len(data), len(parity))
	if err != nil {
		return err
	}
	shards := make([][]byte, 0, len(data)+len(parity))
	shards = append(append(shards, data...), parity...)
	return e.Encode(shards)
}

// reconstruct rebuilds the nil data shards of shards (k data, then parity
// shards by index, nil where missing); it needs k shards present.
func reconstruct(k int, shards [][]byte) error {
	e, err := encoder(k, len(shards)-k)
	if err != nil {
		return err
	}
	return e.ReconstructData(shards)
}
