package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Size is a byte count written for people: "64MiB", "1G", "512k" or a plain number of bytes.
type Size uint64

var sizeUnits = []struct {
	suffix string
	factor uint64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"k", 1 << 10}, {"B", 1},
}

// ParseSize reads a Size.
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			return scale(strings.TrimSpace(num), u.factor, s)
		}
	}
	return scale(s, 1, s)
}

func scale(num string, factor uint64, orig string) (Size, error) {
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || (factor > 1 && n > ^uint64(0)/factor) {
		return 0, fmt.Errorf("%w: size %q (use e.g. 64MiB, 1GiB or bytes)", ErrInvalid, orig)
	}
	return Size(n * factor), nil
}

// UnmarshalJSON reads a size as a string ("64MiB") or a number of bytes.
func (s *Size) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		v, err := ParseSize(str)
		*s = v
		return err
	}
	var n uint64
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("size must be a string like \"64MiB\" or a number of bytes")
	}
	*s = Size(n)
	return nil
}

// MarshalJSON writes the size as a number of bytes.
func (s Size) MarshalJSON() ([]byte, error) { return json.Marshal(uint64(s)) }
