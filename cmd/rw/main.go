package main

import "github.com/rwanda-go/rwanda/internal/rwcli"

func main() { rwcli.Main() }
