package replay

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// A Formatter writes records as text, one after another. It buffers; Flush
// writes what is buffered.
type Formatter interface {
	Format(topic string, r Record) error
	Flush() error
}

// DefaultTextFormat is kcat's default consumer format: the value and a
// newline.
const DefaultTextFormat = `%s\n`

// TextFormatter writes each record through a kcat -f format:
//
//	%t topic   %p partition   %o offset   %T timestamp (Unix ms)
//	%k key     %K key length (-1 for null)
//	%s value   %S value length (-1 for null)
//	%h headers as comma-separated key=value
//	%%         a percent sign
//	\n \r \t \\  newline, carriage return, tab, backslash
//
// A null key or value prints as nothing.
type TextFormatter struct {
	w     *bufio.Writer
	parts []textPart
}

// textPart is a literal (verb 0) or one verb.
type textPart struct {
	literal string
	verb    byte
}

// NewTextFormatter parses format and returns a TextFormatter writing to w.
func NewTextFormatter(w io.Writer, format string) (*TextFormatter, error) {
	var parts []textPart
	var lit []byte
	flushLit := func() {
		if len(lit) > 0 {
			parts = append(parts, textPart{literal: string(lit)})
			lit = nil
		}
	}
	for i := 0; i < len(format); i++ {
		c := format[i]
		switch {
		case c == '%' && i+1 < len(format):
			i++
			switch v := format[i]; v {
			case '%':
				lit = append(lit, '%')
			case 't', 'p', 'o', 'T', 'k', 'K', 's', 'S', 'h':
				flushLit()
				parts = append(parts, textPart{verb: v})
			default:
				return nil, fmt.Errorf("format %q: unknown verb %%%c", format, v)
			}
		case c == '\\' && i+1 < len(format):
			i++
			switch e := format[i]; e {
			case 'n':
				lit = append(lit, '\n')
			case 'r':
				lit = append(lit, '\r')
			case 't':
				lit = append(lit, '\t')
			case '\\':
				lit = append(lit, '\\')
			default:
				lit = append(lit, '\\', e)
			}
		default:
			lit = append(lit, c)
		}
	}
	flushLit()
	return &TextFormatter{w: bufio.NewWriterSize(w, 1<<20), parts: parts}, nil
}

// Format writes r.
func (f *TextFormatter) Format(topic string, r Record) error {
	var num [20]byte
	for _, p := range f.parts {
		var err error
		switch p.verb {
		case 0:
			_, err = f.w.WriteString(p.literal)
		case 't':
			_, err = f.w.WriteString(topic)
		case 'p':
			_, err = f.w.Write(strconv.AppendInt(num[:0], int64(r.Partition), 10))
		case 'o':
			_, err = f.w.Write(strconv.AppendInt(num[:0], r.Offset, 10))
		case 'T':
			_, err = f.w.Write(strconv.AppendInt(num[:0], r.Timestamp, 10))
		case 'k':
			_, err = f.w.Write(r.Key)
		case 'K':
			_, err = f.w.Write(strconv.AppendInt(num[:0], nullableLen(r.Key), 10))
		case 's':
			_, err = f.w.Write(r.Value)
		case 'S':
			_, err = f.w.Write(strconv.AppendInt(num[:0], nullableLen(r.Value), 10))
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					f.w.WriteByte(',')
				}
				f.w.WriteString(h.Key)
				f.w.WriteByte('=')
				_, err = f.w.Write(h.Value)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Flush writes what is buffered.
func (f *TextFormatter) Flush() error { return f.w.Flush() }

func nullableLen(b []byte) int64 {
	if b == nil {
		return -1
	}
	return int64(len(b))
}

// JSONFormatter writes one JSON object per line in kcat's -J envelope:
//
//	{"topic":"t","partition":0,"offset":42,"tstype":"create","ts":1764979200000,
//	 "broker":-1,"headers":["k","v"],"key":"k","payload":"v"}
//
// tstype is "create" or "logappend"; broker is -1 (no broker served it);
// headers, a flat list of names and values, is left out when there are none;
// a null key, payload or header value is null. A key or payload that is not
// valid UTF-8 is written in base64, with "key_encoding" or
// "payload_encoding" set to "base64", so that no byte is lost.
type JSONFormatter struct {
	w *bufio.Writer
}

// NewJSONFormatter returns a JSONFormatter writing to w.
func NewJSONFormatter(w io.Writer) *JSONFormatter {
	return &JSONFormatter{w: bufio.NewWriterSize(w, 1<<20)}
}

type jsonRecord struct {
	Topic           string    `json:"topic"`
	Partition       int32     `json:"partition"`
	Offset          int64     `json:"offset"`
	TsType          string    `json:"tstype"`
	Ts              int64     `json:"ts"`
	Broker          int       `json:"broker"`
	Headers         []*string `json:"headers,omitempty"`
	Key             *string   `json:"key"`
	KeyEncoding     string    `json:"key_encoding,omitempty"`
	Payload         *string   `json:"payload"`
	PayloadEncoding string    `json:"payload_encoding,omitempty"`
}

// Format writes r.
func (f *JSONFormatter) Format(topic string, r Record) error {
	j := jsonRecord{Topic: topic, Partition: r.Partition, Offset: r.Offset, TsType: "create", Ts: r.Timestamp, Broker: -1}
	if r.LogAppendTime {
		j.TsType = "logappend"
	}
	j.Key, j.KeyEncoding = jsonBytes(r.Key)
	j.Payload, j.PayloadEncoding = jsonBytes(r.Value)
	for _, h := range r.Headers {
		name := h.Key
		value, _ := jsonBytes(h.Value)
		j.Headers = append(j.Headers, &name, value)
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if _, err := f.w.Write(b); err != nil {
		return err
	}
	return f.w.WriteByte('\n')
}

// Flush writes what is buffered.
func (f *JSONFormatter) Flush() error { return f.w.Flush() }

// jsonBytes is b as a JSON string: nil for null, the text when it is valid
// UTF-8, else base64 with the encoding named.
func jsonBytes(b []byte) (*string, string) {
	if b == nil {
		return nil, ""
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s, "base64"
}
