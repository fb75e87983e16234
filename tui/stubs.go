package tui

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

type stubPage struct{ title string }

func (s *stubPage) Init() tea.Cmd                       { return nil }
func (s *stubPage) Update(tea.Msg) (tea.Model, tea.Cmd) { return s, nil }
func (s *stubPage) View() string                        { return s.title }
func (s *stubPage) SetSize(int, int)                    {}
func (s *stubPage) ShortHelp() []key.Binding            { return nil }
func (s *stubPage) FullHelp() [][]key.Binding           { return nil }
func (s *stubPage) Title() string                       { return s.title }
func (s *stubPage) Capturing() bool                     { return false }
func (s *stubPage) Reload() tea.Cmd                     { return nil }
func newUsersPage(*env) page                            { return &stubPage{"Users"} }
func newAuditPage(*env) page                            { return &stubPage{"Audit Log"} }
