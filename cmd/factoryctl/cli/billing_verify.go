package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/config"
)

func init() {
	register(&command{
		name:    "billing verify",
		args:    "[--factory NAME] [--checkpoints FILE] [--json]",
		summary: "verify the hash chains of the ledgers you may see, and that they still hold the heads seen last time",
		run:     billingVerify,
	})
}

// ErrLedgerBroken: a ledger chain failed verification.
var ErrLedgerBroken = errors.New("ledger verification failed")

func billingVerify(ctx context.Context, e *env, args []string) error {
	flags := e.flags()
	factory := flags.String("factory", "", "only this factory's chain")
	cpFile := flags.String("checkpoints", defaultCheckpoints(), "where the heads seen are remembered, to detect a "+
		"later truncation or rewrite (\"\" to remember nothing)")
	asJSON := flags.Bool("json", false, "print JSON")
	if _, err := parse(flags, args, 0, 0); err != nil {
		return err
	}
	known, err := loadCheckpoints(*cpFile, daemonKey(e))
	if err != nil {
		return err
	}
	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var cps []client.Checkpoint
	for _, cp := range known {
		cps = append(cps, cp)
	}
	verdicts, err := c.VerifyLedger(ctx, *factory, cps)
	if err != nil {
		return err
	}
	broken := 0
	for _, v := range verdicts {
		if !v.OK {
			broken++
			continue
		}
		known[v.FactoryID] = v.Head
	}
	if *asJSON {
		if verdicts == nil {
			verdicts = []client.ChainVerdict{}
		}
		if err := writeJSON(e.Stdout, verdicts); err != nil {
			return err
		}
	} else {
		printVerdicts(e, verdicts)
	}
	if err := saveCheckpoints(*cpFile, daemonKey(e), known); err != nil {
		return err
	}
	if broken > 0 {
		return fmt.Errorf("%w: %d chain(s) broken", ErrLedgerBroken, broken)
	}
	return nil
}

func printVerdicts(e *env, verdicts []client.ChainVerdict) {
	if len(verdicts) == 0 {
		fmt.Fprintln(e.Stdout, "no ledgers you may see")
		return
	}
	tw := table(e.Stdout)
	fmt.Fprintln(tw, "FACTORY\tROLE\tENTRIES\tHEAD\tVERDICT")
	for _, v := range verdicts {
		role := "payer"
		if v.Payee {
			role = "payee"
		}
		name := v.Factory
		if name == "" {
			name = v.FactoryID[:12]
		}
		verdict := "ok"
		if !v.OK {
			verdict = "BROKEN: " + v.Error
		}
		head := fmt.Sprintf("%d:%s", v.Head.Seq, v.Head.Hash[:min(12, len(v.Head.Hash))])
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", name, role, v.Entries, head, verdict)
	}
	tw.Flush()
}

// defaultCheckpoints is $XDG_STATE_HOME/factoryctl/ledger-heads.json (or under ~/.local/state),
// kept per daemon socket.
func defaultCheckpoints() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "factoryctl", "ledger-heads.json")
}

// checkpointFile is the remembered heads, by daemon socket then factory id.
type checkpointFile map[string]map[string]client.Checkpoint

// daemonKey names the daemon e talks to, for the checkpoint file.
func daemonKey(e *env) string {
	if e.socket != "" {
		if abs, err := filepath.Abs(e.socket); err == nil {
			return abs
		}
		return e.socket
	}
	return config.DefaultSocket()
}

func loadCheckpoints(path, daemon string) (map[string]client.Checkpoint, error) {
	out := map[string]client.Checkpoint{}
	if path == "" {
		return out, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	var f checkpointFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("checkpoints %s: %w", path, err)
	}
	for id, cp := range f[daemon] {
		out[id] = cp
	}
	return out, nil
}

func saveCheckpoints(path, daemon string, known map[string]client.Checkpoint) error {
	if path == "" {
		return nil
	}
	f := checkpointFile{}
	if b, err := os.ReadFile(path); err == nil {
		json.Unmarshal(b, &f)
	}
	f[daemon] = known
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
