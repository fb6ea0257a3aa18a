package stack

import "testing"

// TestBudgetShare: a share reserves from its budget too, counts only its
// own, is refused when the budget is, and releases into it.
func TestBudgetShare(t *testing.T) {
	root := NewBudget(100)
	a, b := root.Share(), root.Share()
	if !a.Reserve(60) || !b.Reserve(40) || root.Used() != 100 || a.Used() != 60 || b.Used() != 40 {
		t.Fatalf("root %d, a %d, b %d", root.Used(), a.Used(), b.Used())
	}
	if a.Reserve(1) || a.Used() != 60 || root.Used() != 100 || a.Denied() != 1 {
		t.Fatalf("over the root: a %d, root %d, a denied %d", a.Used(), root.Used(), a.Denied())
	}
	a.Release(60)
	if root.Used() != 40 || a.Used() != 0 {
		t.Fatalf("after release: root %d, a %d", root.Used(), a.Used())
	}
	var none *Budget
	s := none.Share()
	if !s.Reserve(1<<40) || s.Used() != 1<<40 {
		t.Fatalf("share of nil: %d", s.Used())
	}
}
