package spec

import (
	"fmt"
	"testing"

	"pipeline/engine/yamldoc"
)

func TestScratch(t *testing.T) {
	for _, src := range []string{
		"name: [x]\nconnectors:\n  files: {dir: x}\nstages:\n  - {name: a, kind: load}\n",
		"name: x\nstages:\n  - name: a\n    kind: stream\n    steps: []\n    foo: 1\n",
		"name: x\nstages:\n  - name: a\n    kind: strem\n",
		"name: x\nstages:\n  - name: a\n",
		"name: x\nstages:\n  - kind: load\n",
		"name: x\n",
		"stages: [{name: a, kind: load}]\n",
		"name: x\nstages:\n  - x\n",
	} {
		f, err := yamldoc.Parse("s.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Decode(f, yamldoc.MapEnv(nil))
		fmt.Printf("----\n%s=> %v\n", src, err)
	}
}
