package main

import (
	"github.com/rwanda-go/rwanda/internal/rwcli"
	_ "github.com/rwanda-go/rwanda/natsx" // registers +nats URLs
)

func main() { rwcli.Main() }
