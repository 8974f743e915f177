package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/factoryd/factoryd/client"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// verdict describes a factory's discretion for people.
func verdict(f client.FactoryInfo) string {
	switch {
	case !f.Sealed:
		return "unsealed"
	case f.Discreet:
		return "discreet"
	}
	return fmt.Sprintf("%d hole(s)", f.Holes)
}

func short(d fmt.Stringer) string {
	s := d.String()
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func stamp(t time.Time) string { return t.Local().Format(time.DateTime) }

// size formats a byte count for people: "5.3 MiB".
func size(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
