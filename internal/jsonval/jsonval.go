package jsonval

import (
	"encoding/json"
	"fmt"
)

// Of returns v with map keys turned into strings (fmt's form) and any
// other value encoding/json refuses (NaN, say) turned into its fmt form.
// It does not modify v.
func Of(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = Of(e)
		}
		return m
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = Of(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = Of(e)
		}
		return s
	}
	if _, err := json.Marshal(v); err != nil {
		return fmt.Sprintf("%v", v)
	}
	return v
}
