package registry

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ErrLimit is wrapped by the errors of [Registry.CheckLimits]: a stack
// whose parameters lie outside what a receiver accepts.
var ErrLimit = errors.New("registry: parameter outside the receive limits")

// Bounds are the values a receiver accepts for one layer parameter,
// written as in a QoS string ("64KiB", "10ms"); "" leaves that side
// unbounded.
type Bounds struct {
	Min, Max string
}

// bounds are parsed limits of one parameter.
type bounds struct {
	kind             ParamKind
	min, max         Value
	hasMin, hasMax   bool
	minText, maxText string
}

// parseBounds parses b for a parameter of kind k.
func parseBounds(k ParamKind, b Bounds) (bounds, error) {
	out := bounds{kind: k, minText: b.Min, maxText: b.Max}
	if !k.numeric() && (b.Min != "" || b.Max != "") {
		return out, fmt.Errorf("a %s parameter cannot be bounded", k)
	}
	for _, side := range []struct {
		text string
		v    *Value
		has  *bool
	}{{b.Min, &out.min, &out.hasMin}, {b.Max, &out.max, &out.hasMax}} {
		if side.text == "" {
			continue
		}
		v, err := ParseValue(side.text)
		if err != nil {
			return out, err
		}
		pi := ParamInfo{Kind: k}
		if v, why := pi.accepts(v); why != "" {
			return out, errors.New(why)
		} else {
			*side.v, *side.has = v, true
		}
	}
	if out.hasMin && out.hasMax && k.num(out.min) > k.num(out.max) {
		return out, fmt.Errorf("min %s above max %s", b.Min, b.Max)
	}
	return out, nil
}

// check reports why v lies outside the bounds, or "".
func (b bounds) check(v Value) string {
	n := b.kind.num(v)
	switch {
	case b.hasMin && n < b.kind.num(b.min):
		return fmt.Sprintf("%s is below the receive limit %s", v, b.minText)
	case b.hasMax && n > b.kind.num(b.max):
		return fmt.Sprintf("%s is above the receive limit %s", v, b.maxText)
	}
	return ""
}

// Limits returns the receive limits every registered layer declares, keyed
// "layer.param" ("order.buffer"): the defaults [Registry.CheckLimits]
// applies.
func (r *Registry) Limits() map[string]Bounds {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]Bounds)
	for name, e := range r.layers {
		for _, pi := range e.info.Params {
			if pi.Min != "" || pi.Max != "" {
				out[name+"."+pi.Name] = Bounds{Min: pi.Min, Max: pi.Max}
			}
		}
	}
	return out
}

// CheckLimits reports whether every parameter of spec's layers, given or
// defaulted, lies within the receive limits: those the layers declare
// ([ParamInfo.Min], [ParamInfo.Max]), replaced by override where it has an
// entry for "layer.param". An override key that names no numeric
// parameter of a registered layer is an error, so a misspelt limit does
// not pass unnoticed. Errors wrap [ErrLimit] (or [ErrParam] for a bad
// override) and name the layer and parameter.
func (r *Registry) CheckLimits(spec Spec, override map[string]Bounds) error {
	spec, err := r.Expand(spec)
	if err != nil {
		return err
	}
	params, err := r.params(spec)
	if err != nil {
		return err
	}
	if err := r.checkOverrides(override); err != nil {
		return err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for i, p := range params {
		e := r.layers[spec.Layers[i].Name]
		for j, pi := range e.info.Params {
			bb := e.limits[j]
			if len(override) > 0 {
				if o, ok := override[e.info.Name+"."+pi.Name]; ok {
					bb, _ = parseBounds(pi.Kind, o) // checked by checkOverrides
				}
			}
			if why := bb.check(p.vals[j]); why != "" {
				off := spec.Layers[i].Offset
				if kv, ok := spec.Layers[i].Param(pi.Name); ok {
					off = kv.Offset
				}
				return &Error{Input: spec.Input, Offset: offsetIn(spec, off), Layer: e.info.Name, Param: pi.Name, Reason: why, Err: ErrLimit}
			}
		}
	}
	return nil
}

// checkOverrides checks that every override names a numeric parameter of a
// registered layer and parses.
func (r *Registry) checkOverrides(override map[string]Bounds) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, key := range slices.Sorted(maps.Keys(override)) {
		layer, param, _ := strings.Cut(key, ".")
		e := r.layers[layer]
		var pi *ParamInfo
		if e != nil {
			if i := slices.IndexFunc(e.info.Params, func(p ParamInfo) bool { return p.Name == param }); i >= 0 {
				pi = &e.info.Params[i]
			}
		}
		if pi == nil {
			return &Error{Offset: -1, Reason: fmt.Sprintf("limit %q names no parameter of a registered layer", key), Err: ErrParam}
		}
		if _, err := parseBounds(pi.Kind, override[key]); err != nil {
			return &Error{Offset: -1, Layer: layer, Param: param, Reason: "bad limit: " + err.Error(), Err: ErrParam}
		}
	}
	return nil
}

// Value returns the value of a layer's parameter in l: the one given, else
// the layer's default. ok is false when the layer is not registered or
// does not declare the parameter.
func (r *Registry) Value(l LayerSpec, param string) (v Value, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e := r.layers[l.Name]
	if e == nil {
		return Value{}, false
	}
	i := slices.IndexFunc(e.info.Params, func(p ParamInfo) bool { return p.Name == param })
	if i < 0 {
		return Value{}, false
	}
	if kv, ok := l.Param(param); ok {
		return kv.Value, true
	}
	return e.defaults[i], true
}
