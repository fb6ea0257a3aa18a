// Package jsonval turns the generic values msgpack decodes (maps with keys
// of any type, say) into values encoding/json takes: what `rw sub --json`
// prints and what the WebSocket side (gateway/ws) sends browsers for a body
// of a type they do not know.
package jsonval
