package registry

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/stack"
)

// Errors wrapped by the *[Error] values of the registry (besides
// [ErrSyntax] for malformed QoS strings).
var (
	// ErrUnknownLayer: a QoS string names a layer nobody registered.
	ErrUnknownLayer = errors.New("registry: unknown layer")
	// ErrParam: a parameter is unknown, of the wrong kind, or refused.
	ErrParam = errors.New("registry: bad parameter")
	// ErrBuild: a builder failed for another reason.
	ErrBuild = errors.New("registry: layer build failed")
)

// Env is what a builder may need beyond its parameters: context of the
// channel the stack is for.
type Env struct {
	// Keys is the channel's key ring (channel.WithKey, channel.WithKeyRing);
	// nil when the channel is unkeyed. Layers derive their keys from it
	// and never see, log or print the channel keys themselves.
	Keys *keys.Ring
	// Identity is the key this member signs with (channel.WithIdentity);
	// nil when it has none.
	Identity *keys.Identity
	// Trusted is the set of public keys whose signatures the channel
	// accepts (channel.WithTrusted); nil when none was configured.
	Trusted *keys.Trust
	// Channel is the channel's URL, for layers that derive per-channel
	// material (keys, ids) from it.
	Channel string
	// MemberSalt is the salt this member's id was derived with from its
	// Identity: a channel with an identity takes keys.MemberID(Identity's
	// public key, MemberSalt) as its member id, so the sign layer, which
	// carries the salt in every signature, lets receivers check that a
	// signer speaks only for its own member id. Channels draw it at random
	// and never 0; 0 means no binding (no identity, or a stack outside a
	// channel).
	MemberSalt uint64
}

// Info describes a layer for introspection and for checking parameters.
type Info struct {
	// Name is the layer's name in QoS strings; [Registry.Register] sets it.
	Name string
	// Summary says what the layer does, in one line.
	Summary string
	// Params lists the parameters the layer accepts; any other key is an
	// error before the builder runs.
	Params []ParamInfo
	// Capabilities are what the layer provides and requires (with default
	// parameters), as its instances declare through stack.Capable.
	Capabilities stack.Capabilities
}

// Builder makes layers of one kind. Its Info declares the parameters; Build
// receives them checked and completed with defaults, and returns a fresh
// layer for one stack. Build is called concurrently for different stacks.
type Builder interface {
	Info() Info
	Build(env Env, p *Params) (stack.Layer, error)
}

// BuildFunc makes layers for [NewBuilder].
type BuildFunc func(env Env, p *Params) (stack.Layer, error)

// NewBuilder returns a [Builder] from a description and a build function.
func NewBuilder(info Info, build BuildFunc) Builder {
	if build == nil {
		panic("registry: NewBuilder with a nil build function")
	}
	return funcBuilder{info, build}
}

type funcBuilder struct {
	info  Info
	build BuildFunc
}

func (b funcBuilder) Info() Info                                    { return b.info }
func (b funcBuilder) Build(env Env, p *Params) (stack.Layer, error) { return b.build(env, p) }

// Profile is a named QoS string: "reliable", "media".
type Profile struct {
	Name string
	QoS  string // what the name expands to
	Doc  string // what it is for, in one line
}

// Registry maps layer names to builders and profile names to QoS strings.
// The zero Registry is empty and ready; tests build their own, programs use
// [Default]. A Registry is safe for concurrent use.
type Registry struct {
	mu       sync.RWMutex
	layers   map[string]*entry
	profiles map[string]profileEntry
}

type entry struct {
	b        Builder
	info     Info
	defaults []Value
	limits   []bounds // the declared receive limits, parsed
}

type profileEntry struct {
	Profile
	spec Spec
}

var defaultRegistry = &Registry{}

// Default returns the process-wide registry that layer packages register
// into from init and that channels use.
func Default() *Registry { return defaultRegistry }

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// Register adds a layer builder under name. Like database/sql.Register it
// panics when b is nil, when name is not a valid layer name ([a-z][a-z0-9_-]*)
// or is already taken by a layer or a profile, or when the builder's Info
// declares a parameter twice or a default that does not parse as its kind:
// all programming errors, found at init.
func (r *Registry) Register(name string, b Builder) {
	if b == nil {
		panic("registry: Register " + name + " with a nil builder")
	}
	if !nameRE.MatchString(name) {
		panic(fmt.Sprintf("registry: invalid layer name %q", name))
	}
	info := b.Info()
	info.Name = name
	e := &entry{b: b, info: info, defaults: make([]Value, len(info.Params)), limits: make([]bounds, len(info.Params))}
	for i, pi := range info.Params {
		if !nameRE.MatchString(pi.Name) {
			panic(fmt.Sprintf("registry: layer %s declares invalid parameter name %q", name, pi.Name))
		}
		for _, q := range info.Params[:i] {
			if q.Name == pi.Name {
				panic(fmt.Sprintf("registry: layer %s declares parameter %s twice", name, pi.Name))
			}
		}
		if pi.Kind < IntParam || pi.Kind > FloatParam {
			panic(fmt.Sprintf("registry: layer %s parameter %s has no kind", name, pi.Name))
		}
		lim, err := parseBounds(pi.Kind, Bounds{Min: pi.Min, Max: pi.Max})
		if err != nil {
			panic(fmt.Sprintf("registry: layer %s parameter %s: bad receive limit: %v", name, pi.Name, err))
		}
		e.limits[i] = lim
		if pi.Default == "" {
			continue
		}
		v, err := ParseValue(pi.Default)
		if err == nil {
			var why string
			if v, why = pi.accepts(v); why != "" {
				err = errors.New(why)
			}
		}
		if err != nil {
			panic(fmt.Sprintf("registry: layer %s parameter %s: bad default %q: %v", name, pi.Name, pi.Default, err))
		}
		e.defaults[i] = v
		if why := lim.check(v); why != "" {
			panic(fmt.Sprintf("registry: layer %s parameter %s: default %s outside its receive limits: %s", name, pi.Name, pi.Default, why))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.layers[name]; dup {
		panic("registry: Register called twice for layer " + name)
	}
	if _, dup := r.profiles[name]; dup {
		panic("registry: layer " + name + " has the name of a profile")
	}
	if r.layers == nil {
		r.layers = make(map[string]*entry)
	}
	r.layers[name] = e
}

// RegisterProfile adds a named QoS string. It panics when the name is
// invalid or taken (by a layer or a profile) or the QoS string does not
// parse. The layers it names need not be registered yet; resolving the
// profile fails until they are.
func (r *Registry) RegisterProfile(p Profile) {
	if !nameRE.MatchString(p.Name) {
		panic(fmt.Sprintf("registry: invalid profile name %q", p.Name))
	}
	spec, err := Parse(p.QoS)
	if err != nil {
		panic(fmt.Sprintf("registry: profile %s: %v", p.Name, err))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.profiles[p.Name]; dup {
		panic("registry: RegisterProfile called twice for " + p.Name)
	}
	if _, dup := r.layers[p.Name]; dup {
		panic("registry: profile " + p.Name + " has the name of a layer")
	}
	if r.profiles == nil {
		r.profiles = make(map[string]profileEntry)
	}
	r.profiles[p.Name] = profileEntry{p, spec}
}

// Lookup returns the builder registered under name.
func (r *Registry) Lookup(name string) (Builder, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.layers[name]
	if !ok {
		return nil, false
	}
	return e.b, true
}

// Layers describes every registered layer, sorted by name: its summary,
// parameters with kinds and defaults, and capabilities. This is how a
// program finds out what stacks it can build.
func (r *Registry) Layers() []Info {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Info, 0, len(r.layers))
	for _, name := range slices.Sorted(maps.Keys(r.layers)) {
		out = append(out, r.layers[name].info)
	}
	return out
}

// Profiles lists the registered profiles, sorted by name.
func (r *Registry) Profiles() []Profile {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Profile, 0, len(r.profiles))
	for _, name := range slices.Sorted(maps.Keys(r.profiles)) {
		out = append(out, r.profiles[name].Profile)
	}
	return out
}

// Expand replaces each profile name in spec by the layers it stands for
// (profiles may name profiles, up to a depth of 8). A profile given
// parameters is an error. Layers that come from a profile carry the offset
// of the profile's name, so errors about them point at it.
func (r *Registry) Expand(spec Spec) (Spec, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.expandLocked(spec, 0)
}

func (r *Registry) expandLocked(spec Spec, depth int) (Spec, error) {
	out := Spec{Input: spec.Input, Layers: make([]LayerSpec, 0, len(spec.Layers))}
	for _, l := range spec.Layers {
		p, ok := r.profiles[l.Name]
		if !ok {
			out.Layers = append(out.Layers, l)
			continue
		}
		if len(l.Params) > 0 {
			return Spec{}, &Error{Input: spec.Input, Offset: l.Params[0].Offset, Layer: l.Name,
				Reason: fmt.Sprintf("profile %s takes no parameters; write its layers out (%s) to change them", l.Name, p.spec), Err: ErrParam}
		}
		if depth >= 8 {
			return Spec{}, &Error{Input: spec.Input, Offset: l.Offset, Layer: l.Name,
				Reason: "profiles nest too deep (a profile that names itself?)", Err: ErrParam}
		}
		inner, err := r.expandLocked(p.spec, depth+1)
		if err != nil {
			return Spec{}, err
		}
		for _, il := range inner.Layers {
			il.Offset = l.Offset
			il.Params = slices.Clone(il.Params)
			for k := range il.Params {
				il.Params[k].Offset = l.Offset
			}
			out.Layers = append(out.Layers, il)
		}
	}
	return out, nil
}

// Resolve parses a QoS string, expands profiles and checks every layer name
// and parameter, without building anything. Its result's String is the
// canonical form of the stack.
func (r *Registry) Resolve(qos string) (Spec, error) {
	spec, err := Parse(qos)
	if err != nil {
		return Spec{}, err
	}
	spec, err = r.Expand(spec)
	if err != nil {
		return Spec{}, err
	}
	_, err = r.params(spec)
	return spec, err
}

// params checks spec's layers against the registry.
func (r *Registry) params(spec Spec) ([]*Params, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Params, len(spec.Layers))
	for i, l := range spec.Layers {
		e, ok := r.layers[l.Name]
		if !ok {
			return nil, &Error{Input: spec.Input, Offset: offsetIn(spec, l.Offset), Layer: l.Name,
				Reason: fmt.Sprintf("unknown layer %q; registered: %s", l.Name, r.knownLocked()), Err: ErrUnknownLayer}
		}
		p, err := newParams(spec.Input, l, e.info.Params, e.defaults)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

// offsetIn returns off, or -1 when spec was built in code and has no input
// to point into.
func offsetIn(spec Spec, off int) int {
	if spec.Input == "" {
		return -1
	}
	return off
}

func (r *Registry) knownLocked() string {
	names := slices.Sorted(maps.Keys(r.layers))
	for _, p := range slices.Sorted(maps.Keys(r.profiles)) {
		names = append(names, p+" (profile)")
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Build resolves a QoS string and builds its layers, application side
// first, ready for stack.New. If a builder fails, the layers already built
// are closed.
func (r *Registry) Build(qos string, env Env) ([]stack.Layer, error) {
	spec, err := r.Resolve(qos)
	if err != nil {
		return nil, err
	}
	return r.BuildSpec(spec, env)
}

// BuildSpec builds the layers of an already parsed spec (profiles are
// expanded first).
func (r *Registry) BuildSpec(spec Spec, env Env) ([]stack.Layer, error) {
	spec, err := r.Expand(spec)
	if err != nil {
		return nil, err
	}
	params, err := r.params(spec)
	if err != nil {
		return nil, err
	}
	layers := make([]stack.Layer, 0, len(params))
	fail := func(err error) ([]stack.Layer, error) {
		for _, l := range layers {
			l.Close()
		}
		return nil, err
	}
	for i, p := range params {
		l := spec.Layers[i]
		r.mu.RLock()
		b := r.layers[l.Name].b
		r.mu.RUnlock()
		layer, err := b.Build(env, p)
		if err != nil {
			var re *Error
			if errors.As(err, &re) {
				return fail(err)
			}
			return fail(&Error{Input: spec.Input, Offset: offsetIn(spec, l.Offset), Layer: l.Name, Reason: err.Error(), Err: errors.Join(ErrBuild, err)})
		}
		if layer == nil {
			return fail(&Error{Input: spec.Input, Offset: offsetIn(spec, l.Offset), Layer: l.Name, Reason: "builder returned no layer", Err: ErrBuild})
		}
		layers = append(layers, layer)
		if layer.Name() != l.Name {
			return fail(&Error{Input: spec.Input, Offset: offsetIn(spec, l.Offset), Layer: l.Name,
				Reason: fmt.Sprintf("builder made a layer named %q", layer.Name()), Err: ErrBuild})
		}
	}
	return layers, nil
}

// NewStack builds the layers of a QoS string and assembles them with cfg
// (whose Layers field is replaced).
func (r *Registry) NewStack(qos string, env Env, cfg stack.Config) (*stack.Stack, error) {
	layers, err := r.Build(qos, env)
	if err != nil {
		return nil, err
	}
	cfg.Layers = layers
	return stack.New(cfg)
}

// Register adds a layer builder to the [Default] registry; see
// [Registry.Register].
func Register(name string, b Builder) { defaultRegistry.Register(name, b) }

// RegisterProfile adds a profile to the [Default] registry.
func RegisterProfile(p Profile) { defaultRegistry.RegisterProfile(p) }

// Layers describes the layers of the [Default] registry.
func Layers() []Info { return defaultRegistry.Layers() }

// Profiles lists the profiles of the [Default] registry.
func Profiles() []Profile { return defaultRegistry.Profiles() }

// Resolve checks a QoS string against the [Default] registry.
func Resolve(qos string) (Spec, error) { return defaultRegistry.Resolve(qos) }

// Build builds a QoS string's layers from the [Default] registry.
func Build(qos string, env Env) ([]stack.Layer, error) { return defaultRegistry.Build(qos, env) }

// NewStack builds and assembles a stack from the [Default] registry.
func NewStack(qos string, env Env, cfg stack.Config) (*stack.Stack, error) {
	return defaultRegistry.NewStack(qos, env, cfg)
}
