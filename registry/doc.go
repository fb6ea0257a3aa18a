// Package registry turns QoS strings into protocol stacks: it holds named
// layer builders and profiles, parses QoS strings, checks their parameters
// and builds the layers.
//
// # QoS strings
//
// A QoS string names the layers of a stack, application side first:
//
//	frag(mtu=1200)/window(size=256,ttl=200ms)/order/encrypt
//
// The grammar:
//
//	qos    := "" | layer ( "/" layer )*
//	layer  := name [ "(" [ param ( "," param )* ] ")" ]
//	param  := key "=" value
//	name   := [a-z][a-z0-9_-]*     (keys likewise)
//	value  := number | size | duration | percent | bool | identifier
//
// Values are typed by how they look: numbers (7, -1, 0.25), sizes (1500B,
// 64KiB, 1MB; a bare integer is also accepted where a size is wanted),
// durations (200ms, 1.5s), percentages (10%), booleans (true, false) and
// identifiers (aes-gcm, s2). Spaces around tokens are ignored.
//
// [Parse] is pure: it turns text into a [Spec] without consulting any
// registry, and its errors are *[Error] values carrying the input, the byte
// offset and the reason. [Spec.String] prints the canonical form (keys
// sorted, values normalised: "64KiB", "1.5s"), which parses back to an equal
// Spec.
//
// # Profiles
//
// A profile is a name for a QoS string: reliable, media, realtime, bulk and
// none are built in, and [Registry.RegisterProfile] adds more. A profile
// name may stand anywhere a layer may ("reliable/encrypt") and is expanded
// in place; it takes no parameters.
//
// # Layers and builders
//
// Layer packages register a [Builder] from init:
//
//	func init() { registry.Register("frag", frag.Builder()) }
//
// A builder's [Info] declares the layer's parameters with their kinds and
// defaults; the registry rejects unknown keys and values of the wrong kind
// before the builder runs, so the builder reads typed [Params] that cannot
// be malformed and checks only what is specific to it ([Params.Errorf]).
// [Registry.Layers] lists every layer with its summary, parameters, defaults
// and capabilities: this is how a program finds out what stacks it can
// build. Register panics on a nil builder or a duplicate name, as
// database/sql.Register does.
//
// # Receive limits
//
// A receiver builds the stack another member announces, with that
// member's parameters, so a parameter that sizes memory, work or how
// often receivers answer declares the bounds a receiver accepts
// ([ParamInfo] Min and Max; Register checks that the default lies within
// them). [Registry.CheckLimits] checks a stack against them, with
// per-parameter overrides keyed "layer.param"; [Registry.Limits] lists
// them. Channels apply them to every announced stack (channel.Policy).
//
// The built-in layers live in the packages under layers/; importing one
// registers it in the [Default] registry. Tests build a [Registry] of their
// own (the zero value is ready).
//
// # Concurrency
//
// A Registry is safe for concurrent use; registration normally happens in
// init, lookups and builds at any time.
package registry
