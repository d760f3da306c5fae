package diff

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"

	"pipeline/engine"
	"pipeline/engine/port"
	"pipeline/engine/rules"
	"pipeline/engine/stage"
	"pipeline/engine/yamldoc"
)

// Plans loads the spec at path twice: with the rule files as they are in
// the git revision base, and as they are in the working tree. A rule file
// that one side lacks (added or removed since base) decides nothing on
// that side (stage.AbsentRules); one that neither has is an error. Errors
// in the spec or the rules come back as yamldoc errors, with positions.
func Plans(path, base string, env yamldoc.Env, reg *port.Registry) (before, after *stage.Plan, err error) {
	root, err := gitRoot(filepath.Dir(path))
	if err != nil {
		return nil, nil, err
	}
	if _, err := git(root, "rev-parse", "--verify", "--quiet", base+"^{commit}"); err != nil {
		return nil, nil, fmt.Errorf("--base %s: no such revision in the git repository at %s (try HEAD, a branch, a tag or a commit)", base, root)
	}
	g := &gitRules{root: root, rev: base}
	if before, err = engine.Load(path, env, reg, stage.LoadRules(g.load)); err != nil {
		return nil, nil, err
	}
	if after, err = engine.Load(path, env, reg, stage.LoadRules(g.loadWorking)); err != nil {
		return nil, nil, err
	}
	return before, after, nil
}

// gitRules reads rule files as they are in a git revision.
type gitRules struct {
	root, rev string
}

// load compiles the rule file at path as it is in the revision; when the
// revision lacks it, the ruleset decides nothing there, like the working
// tree's.
func (g *gitRules) load(path string) (*rules.Ruleset, error) {
	rs, ok, err := g.read(path)
	if err != nil || ok {
		return rs, err
	}
	like, err := rules.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("rules %s: no such file, neither in %s nor in the working tree", path, g.rev)
	}
	if err != nil {
		return nil, err
	}
	return nil, &stage.AbsentRules{Path: path, Like: like}
}

// loadWorking compiles the rule file at path as it is in the working
// tree; when it was removed there, the ruleset decides nothing, like the
// revision's.
func (g *gitRules) loadWorking(path string) (*rules.Ruleset, error) {
	rs, err := rules.Load(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return rs, err
	}
	like, ok, gerr := g.read(path)
	if gerr != nil || !ok {
		return nil, err
	}
	return nil, &stage.AbsentRules{Path: path, Like: like}
}

// read compiles the rule file at path as it is in the revision; ok is
// false when the revision has no such file.
func (g *gitRules) read(path string) (rs *rules.Ruleset, ok bool, err error) {
	rel, err := g.rel(path)
	if err != nil {
		return nil, false, err
	}
	data, err := git(g.root, "show", g.rev+":"+rel)
	if err != nil {
		if out, lerr := git(g.root, "ls-tree", "--name-only", g.rev, "--", rel); lerr == nil && len(bytes.TrimSpace(out)) == 0 {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("rules %s at %s: %w", rel, g.rev, err)
	}
	f, err := yamldoc.Parse(g.rev+":"+rel, data)
	if err != nil {
		return nil, false, err
	}
	rs, err = rules.Compile(f)
	return rs, err == nil, err
}

// rel returns path relative to the work tree's root, with slashes.
func (g *gitRules) rel(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	// The folder may not exist when the file was removed: resolve links
	// in the nearest one that does.
	dir, file := filepath.Split(abs)
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		abs = filepath.Join(r, file)
	}
	root := g.root
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("rules %s are outside the git work tree %s", path, g.root)
	}
	return filepath.ToSlash(rel), nil
}

// gitRoot returns the top folder of the git work tree holding dir.
func gitRoot(dir string) (string, error) {
	out, err := git(dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", fmt.Errorf("diff compares with a git revision, but %s is not in a git work tree: %w", dir, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// git runs git in dir and returns its output; its error says what git said.
func git(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
		}
		return nil, fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}
