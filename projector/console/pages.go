package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFS embed.FS

// pages holds one template per page, each with the shared layout.
type pages struct {
	byName map[string]*template.Template
}

var pageNames = []string{"search", "entity", "event", "pipeline", "error"}

func parsePages() (*pages, error) {
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: parsing the %s page: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// timeLayout is how times are shown: UTC, to the second.
const timeLayout = "2006-01-02 15:04:05Z"

var templateFuncs = template.FuncMap{
	"entityURL": entityURL,
	"eventURL":  func(id string) string { return Prefix + "event/" + url.PathEscape(id) },
	"asOfURL": func(kind, id string, t time.Time) string {
		return entityURL(kind, id) + "?as_of=" + url.QueryEscape(t.UTC().Format(time.RFC3339Nano))
	},
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(timeLayout)
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return humanDuration(time.Since(t)) + " ago"
	},
	"seconds": func(s float64) string { return humanDuration(time.Duration(s * float64(time.Second))) },
	"percent": func(done, total int64) string {
		if total <= 0 {
			return ""
		}
		return fmt.Sprintf("%.0f%%", 100*float64(done)/float64(total))
	},
	"rate": func(v float64) string { return fmt.Sprintf("%.2f/s", v) },
	"divide": func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	},
}

func entityURL(kind, id string) string {
	return Prefix + url.PathEscape(kind) + "/" + url.PathEscape(id)
}

// humanDuration rounds d for reading: 850ms, 12s, 3m20s, 5h2m, 3d4h.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// page is what the layout needs; Data is the page's own.
type page struct {
	Title  string
	Schema string
	Query  string
	// Refresh, in seconds, makes the script reload the live part.
	Refresh int
	Data    any
}

// render executes a page into a buffer first, so a template error becomes
// a clean 500 rather than half a page.
func (c *Console) render(w http.ResponseWriter, status int, name string, p page) {
	p.Schema = c.cfg.Schema
	var buf bytes.Buffer
	if err := c.pages.byName[name].Execute(&buf, p); err != nil {
		c.cfg.Logger.Error("console: rendering a page", "page", name, "error", err.Error())
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

func (c *Console) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.render(w, status, "error", page{Title: http.StatusText(status), Query: r.URL.Query().Get("q"),
		Data: map[string]any{"Status": status, "Message": msg}})
}

// failed answers a database error without showing its details (they may
// quote values), and logs it.
func (c *Console) failed(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	msg := "The database could not answer; the error is in the service's log."
	if errors.Is(err, context.DeadlineExceeded) {
		status, msg = http.StatusServiceUnavailable, "The database took too long to answer; try again."
	}
	c.cfg.Logger.Error("console: page failed", "path", r.URL.Path, "error", err.Error())
	c.renderError(w, r, status, msg)
}

func staticFiles() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix(Prefix+"static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Code and style, no billing data: the browser may keep them.
		w.Header().Set("Cache-Control", "private, max-age=300")
		files.ServeHTTP(w, r)
	})
}
