// Command benchrun measures the full banking pipeline against the local
// MariaDB and the embedded broker, and the floor it is measured against:
// the rate at which MariaDB accepts multi-row inserts of the same rows.
//
// Usage (from the repository root):
//
//	go run ./tools/benchrun -transactions 1000000
//
// It generates a dataset with tools/gendata, runs `pipeline run
// configs/banking.yaml` on a fresh database, then inserts the dataset's
// transactions into a scratch table 1,000 rows per INSERT, and prints both
// times and their ratio. Databases it creates are dropped at the end.
package main

import (
	"database/sql"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql"
)

func main() {
	n := flag.Int("transactions", 1_000_000, "transactions to generate")
	keep := flag.Bool("keep", false, "keep the databases and files it creates")
	results := flag.String("results", "", "folder for the run's result CSVs (default: a temporary folder)")
	flag.Parse()
	log.SetFlags(0)

	tmp, err := os.MkdirTemp("", "benchrun-")
	check(err)
	if !*keep {
		defer os.RemoveAll(tmp)
	}
	bin := filepath.Join(tmp, "pipeline")
	run("go", "build", "-o", bin, "./cmd/pipeline")
	data := filepath.Join(tmp, "data")
	start := time.Now()
	run("go", "run", "./tools/gendata", "-out", data, "-transactions", fmt.Sprint(*n))
	log.Printf("generated %d transactions in %.1fs", *n, time.Since(start).Seconds())

	root, err := sql.Open("mysql", "root@tcp(127.0.0.1:3306)/")
	check(err)
	defer root.Close()
	db := fmt.Sprintf("benchrun_%d", time.Now().UnixNano())
	if !*keep {
		defer root.Exec("DROP DATABASE IF EXISTS `" + db + "`")
	}

	out := filepath.Join(tmp, "results")
	if *results != "" {
		out, err = filepath.Abs(*results)
		check(err)
	}
	cmd := exec.Command(bin, "run", "configs/banking.yaml")
	cmd.Env = append(os.Environ(), "DATASET="+data, "RESULTS="+out,
		"MYSQL_DSN=root@tcp(127.0.0.1:3306)/"+db, "KAFKA_BROKERS=", "KAFKA_DATA_DIR="+filepath.Join(tmp, "kafka"))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	start = time.Now()
	check(cmd.Run())
	full := time.Since(start)

	floor, rows := insertFloor(root, db+"_floor", filepath.Join(data, "transactions.csv"), *keep)
	log.Printf("\nfull run (reset, load, publish, validate, settle, export): %.2fs, %.0f transactions/s", full.Seconds(), float64(*n)/full.Seconds())
	log.Printf("MariaDB floor: %d rows by multi-row INSERT (1,000 per statement) in %.2fs, %.0f rows/s", rows, floor.Seconds(), float64(rows)/floor.Seconds())
	log.Printf("the full run takes %.1f times the floor", full.Seconds()/floor.Seconds())
}

// insertFloor inserts the CSV's rows into a fresh table of text columns,
// 1,000 rows per statement, and returns the time it took.
func insertFloor(root *sql.DB, db, path string, keep bool) (time.Duration, int) {
	_, err := root.Exec("CREATE DATABASE `" + db + "`")
	check(err)
	if !keep {
		defer root.Exec("DROP DATABASE IF EXISTS `" + db + "`")
	}
	f, err := os.Open(path)
	check(err)
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	check(err)
	cols := make([]string, len(header))
	for i, h := range header {
		cols[i] = "`" + h + "` VARCHAR(255)"
	}
	cols[0] = "`" + header[0] + "` BIGINT PRIMARY KEY"
	_, err = root.Exec("CREATE TABLE `" + db + "`.t (" + strings.Join(cols, ", ") + ") ENGINE=InnoDB")
	check(err)
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", len(header)), ",") + ")"
	var batch []any
	rows := 0
	start := time.Now()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		q := "INSERT INTO `" + db + "`.t VALUES " + strings.TrimSuffix(strings.Repeat(row+",", len(batch)/len(header)), ",")
		_, err := root.Exec(q, batch...)
		check(err)
		batch = batch[:0]
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		check(err)
		for _, v := range rec {
			batch = append(batch, v)
		}
		rows++
		if rows%1000 == 0 {
			flush()
		}
	}
	flush()
	return time.Since(start), rows
}

func run(name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	check(cmd.Run())
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
