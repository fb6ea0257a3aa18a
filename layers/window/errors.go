package window

import (
	"errors"
	"fmt"

	"github.com/rwanda-go/rwanda/stack"
)

// ErrMemory is wrapped by the error a window returns when the stack's
// memory budget (stack.Binding.Memory) refuses the bytes its window needs:
// the stack is not built (or, for the sending half of a receiver's stack,
// the packet is not sent).
var ErrMemory = errors.New("window: memory budget refused")

func errRoom(room int) error {
	return fmt.Errorf("the MTU leaves %d bytes under the layers below; window control messages need %d", room, controlHeader+8*minRanges)
}

func errMemory(what string, size int, n int64, b *stack.Budget) error {
	return fmt.Errorf("%w: the %s of a %d-packet window need %d bytes; %d of %d are in use", ErrMemory, what, size, n, b.Used(), b.Limit())
}
