package stack

import (
	"errors"
	"fmt"
)

// Errors reported by stacks. Errors from assembly are *[StackError] values
// wrapping one of these, so errors.Is works on them.
var (
	// ErrClosed is returned by calls on a closed stack.
	ErrClosed = errors.New("stack: closed")
	// ErrTooLarge is returned when a packet leaving the bottom of the stack
	// is larger than the MTU (a stack with no frag layer given a large
	// posting, or a layer that ignored its room).
	ErrTooLarge = errors.New("stack: packet larger than the MTU")
	// ErrRequirement is wrapped by assembly errors where a layer's declared
	// requirement is not met by the rest of the stack.
	ErrRequirement = errors.New("stack: layer requirement not met")
	// ErrBind is wrapped by assembly errors where a layer refused its place
	// in the stack.
	ErrBind = errors.New("stack: layer refused to bind")
	// ErrConfig is wrapped by errors in a [Config].
	ErrConfig = errors.New("stack: bad configuration")
)

// StackError reports a problem with one layer of a stack, and the other
// layer involved when there is one.
type StackError struct {
	Layer      string // the layer at fault
	Index      int    // its position, 0 being the application side
	Other      string // the layer it conflicts with, if any
	OtherIndex int    // that layer's position, or -1
	Reason     string // what is wrong
	Err        error  // the sentinel or underlying error
}

func (e *StackError) Error() string {
	if e.Layer == "" {
		return fmt.Sprintf("stack: %s", e.Reason)
	}
	return fmt.Sprintf("stack: %s (layer %d) %s", e.Layer, e.Index, e.Reason)
}

// Unwrap returns the underlying error.
func (e *StackError) Unwrap() error { return e.Err }
