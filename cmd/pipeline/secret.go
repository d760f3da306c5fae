package main

import (
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"pipeline/engine/yamldoc"
)

// hideSecrets makes everything the app writes, its output, its log and the
// error main reports, show *** instead of the value of a secret variable
// (yamldoc.IsSecret, and passwords in DSNs and URLs) of the environment
// and the --env-file, wherever a spec uses it: a secret put in the wrong
// option is echoed by messages that quote the option's value.
func hideSecrets(c *cli.Context) {
	env, err := yamldoc.NewEnv(c.String("env-file"))
	if err != nil {
		return // the command reports it, when it reads the file
	}
	r := env.Redactor()
	c.App.Writer = r.Writer(c.App.Writer)
	c.App.ErrWriter = r.Writer(errWriter(c.App))
}

// errWriter returns where app writes errors and logs.
func errWriter(app *cli.App) io.Writer {
	if app.ErrWriter == nil {
		return os.Stderr
	}
	return app.ErrWriter
}
