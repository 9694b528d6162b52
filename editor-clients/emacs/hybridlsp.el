;;; hybridlsp.el --- hybridlsp through eglot  -*- lexical-binding: t -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (eglot "1.9"))

;;; Commentary:

;; Registers `hybridlsp serve' with eglot for `hybridlsp-modes' and git commit messages, and adds
;; commands that run the server's four actions through its `hybridlsp/run' request.  Answers
;; stream into the *hybridlsp* buffer (`$/progress' reports carry the new text); C-c C-k there,
;; or M-x hybridlsp-cancel, cancels and the server closes the model's stream.
;;
;;   (require 'hybridlsp)
;;   (hybridlsp-setup)            ; then M-x eglot, or eglot-ensure in your mode hooks
;;
;; Uses a few of eglot's internal position helpers (eglot--pos-to-lsp-position and
;; eglot--lsp-position-to-point), as most eglot extensions do.
;;
;; For lsp-mode, hybridlsp-lsp.el adds its own transport (the `hybridlsp--request' methods...
;; below) and the same commands work in buffers lsp-mode manages.

;;; Code:

(require 'cl-lib)
(require 'eglot)
(require 'flymake)
(require 'jsonrpc)
(require 'subr-x)

(defgroup hybridlsp nil
  "Route AI requests to the cheapest capable model tier."
  :group 'tools)

(defcustom hybridlsp-command '("hybridlsp" "serve")
  "The command that starts the language server."
  :type '(repeat string))

(defcustom hybridlsp-report-command nil
  "The command for `hybridlsp-report'.
nil means `hybridlsp-command' with `report' in place of `serve'."
  :type '(choice (const nil) (repeat string)))

(defcustom hybridlsp-modes
  '(python-mode js-mode typescript-mode go-mode rust-mode java-mode c-mode c++-mode sh-mode)
  "Major modes whose buffers eglot manages with hybridlsp."
  :type '(repeat symbol))

(defcustom hybridlsp-settings nil
  "Server settings as a plist, sent as initializationOptions.
The schema is hybridlsp.toml's, e.g. (:budget (:monthly_cloud_usd 20)).
API keys are never settings: export OPENAI_API_KEY or
ANTHROPIC_API_KEY in Emacs's environment."
  :type 'sexp)

(define-derived-mode hybridlsp-commit-mode text-mode "GitCommit"
  "A git commit message (COMMIT_EDITMSG), managed by hybridlsp.
With magit, set `git-commit-major-mode' to this mode.")

(defconst hybridlsp--labels
  '(("complete" . "Complete") ("explain" . "Explain") ("review" . "Review")
    ("commit-message" . "Commit message")))

(defvar hybridlsp--runs (make-hash-table :test #'equal) "Running actions by progress token.")
(defvar hybridlsp--current nil "The action started last, while it runs.")
(defvar hybridlsp-last nil "The last finished action (a `hybridlsp--run').")
(defvar hybridlsp-done-hook nil "Run when an action finishes, is cancelled or fails.")
(defvar hybridlsp--seq 0)
(defvar-local hybridlsp--findings nil "The last review's findings in this buffer.")

(cl-defstruct hybridlsp--run action token server buffer params status (text "") result (chunks 0))

;;; The transport: eglot here, lsp-mode in hybridlsp-lsp.el.  Objects are plists, arrays vectors.

(defvar hybridlsp-server-functions (list #'eglot-current-server)
  "Functions that return the current buffer's hybridlsp connection, or nil.
The first non-nil answer wins; hybridlsp-lsp.el adds lsp-mode's.")

(defun hybridlsp--server ()
  (or (run-hook-with-args-until-success 'hybridlsp-server-functions)
      (user-error "hybridlsp: no hybridlsp server in this buffer; M-x eglot (or M-x lsp) first")))

(cl-defgeneric hybridlsp--request (server method params on-success on-error)
  "Send request METHOD (a keyword) with PARAMS to SERVER, without a timeout.
Call ON-SUCCESS with the result or ON-ERROR with the error object.")

(cl-defmethod hybridlsp--request ((server eglot-lsp-server) method params on-success on-error)
  (jsonrpc-async-request server method params :success-fn on-success :error-fn on-error
                         ;; deferred: sent once eglot has told the server about pending edits
                         :deferred method :timeout nil))

(cl-defgeneric hybridlsp--notify (server method params)
  "Send notification METHOD (a keyword) with PARAMS to SERVER.")

(cl-defmethod hybridlsp--notify ((server eglot-lsp-server) method params)
  (jsonrpc-notify server method params))

(cl-defgeneric hybridlsp--document (server)
  "The current buffer's TextDocumentIdentifier for SERVER.")

(cl-defmethod hybridlsp--document ((_server eglot-lsp-server))
  (eglot--TextDocumentIdentifier))

(cl-defgeneric hybridlsp--position (server pos)
  "Buffer position POS as an LSP Position for SERVER.")

(cl-defmethod hybridlsp--position ((_server eglot-lsp-server) pos)
  (eglot--pos-to-lsp-position pos))

(cl-defgeneric hybridlsp--point (server lsp-pos)
  "The current buffer's position at LSP-POS, an LSP Position from SERVER.")

(cl-defmethod hybridlsp--point ((_server eglot-lsp-server) lsp-pos)
  (eglot--lsp-position-to-point lsp-pos))

;;;###autoload
(defun hybridlsp-setup ()
  "Make eglot start hybridlsp for `hybridlsp-modes' and commit messages."
  (add-to-list 'auto-mode-alist '("/COMMIT_EDITMSG\\'" . hybridlsp-commit-mode))
  (add-to-list 'eglot-server-programs
               (cons (append hybridlsp-modes '((hybridlsp-commit-mode :language-id "gitcommit")))
                     (append hybridlsp-command
                             (list :initializationOptions (or hybridlsp-settings eglot--{}))))))

;;; The output buffer

(defvar hybridlsp-output-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "C-c C-k") #'hybridlsp-cancel)
    (define-key map (kbd "q") #'hybridlsp-quit)
    map))

(define-derived-mode hybridlsp-output-mode special-mode "hybridlsp"
  "Streamed answers.  \\[hybridlsp-cancel] cancels, \\[hybridlsp-quit] closes.")

(defun hybridlsp--output (title)
  (let ((buf (get-buffer-create "*hybridlsp*")))
    (with-current-buffer buf
      (hybridlsp-output-mode)
      (let ((inhibit-read-only t))
        (erase-buffer)
        (insert "# " title "\n\n")))
    (display-buffer buf '(display-buffer-in-side-window (side . bottom)))
    buf))

(defun hybridlsp--show (text &optional footer)
  "Replace the answer in *hybridlsp* with TEXT, then FOOTER lines."
  (with-current-buffer (get-buffer-create "*hybridlsp*")
    (let ((inhibit-read-only t))
      (goto-char (point-min))
      (forward-line 2)
      (delete-region (point) (point-max))
      (insert text)
      (when footer
        (insert "\n\n---\n" (string-join footer "\n") "\n")))))

(defun hybridlsp--money (x)
  (if (numberp x) (format "$%.4f" x) "unpriced"))

(defun hybridlsp--footer (result)
  (let* ((by (or (plist-get result :answered_by) (plist-get result :decision)))
         (decision (plist-get result :decision))
         (usage (plist-get result :usage))
         (backend (plist-get by :backend)))
    (append
     (list (format "%s %s %s (tier %s) - %s in / %s out tokens - %s (all-cloud %s)"
                   (if (member backend '("openai" "anthropic")) "cloud" "local")
                   backend (plist-get by :model) (plist-get by :tier)
                   (plist-get usage :input_tokens) (plist-get usage :output_tokens)
                   (hybridlsp--money (plist-get usage :cost_usd))
                   (hybridlsp--money (plist-get usage :baseline_cost_usd))))
     (let ((reasons (append (plist-get decision :reasons) nil)))
       (and reasons (list (concat "why: " (string-join reasons "; ")))))
     (mapcar (lambda (f) (format "fell back from %s to %s: %s"
                                 (plist-get f :from) (plist-get f :to) (plist-get f :reason)))
             (plist-get result :fallbacks))
     (list (format "request %s - M-x hybridlsp-feedback to rate it" (plist-get result :request_id))))))

;;; Streaming

(defun hybridlsp--progress (token value)
  "Feed a `$/progress' VALUE for TOKEN to its run's *hybridlsp*.
Non-nil when the token is ours (a run's, or a cancelled run's end)."
  (let ((run (gethash token hybridlsp--runs)))
    (cond (run
           (let ((message (plist-get value :message)))
             (when (and (equal (plist-get value :kind) "report") (stringp message))
               (if (string-empty-p message)
                   (setf (hybridlsp--run-text run) "") ; a fallback restarts the answer
                 (cl-incf (hybridlsp--run-chunks run))
                 (setf (hybridlsp--run-text run) (concat (hybridlsp--run-text run) message)))
               (hybridlsp--show (hybridlsp--run-text run))))
           t)
          ((string-prefix-p "hybridlsp-emacs-" (format "%s" token))))))

(cl-defmethod eglot-handle-notification :around
  (_server (_method (eql $/progress)) &key token value &allow-other-keys)
  "Feed the reports of our runs to *hybridlsp*; leave the others to eglot."
  (unless (hybridlsp--progress token value)
    (cl-call-next-method)))

;;; Actions

(defun hybridlsp--done (run status)
  (setf (hybridlsp--run-status run) status)
  (remhash (hybridlsp--run-token run) hybridlsp--runs)
  (when (eq hybridlsp--current run) (setq hybridlsp--current nil))
  (setq hybridlsp-last run)
  (run-hooks 'hybridlsp-done-hook))

(defun hybridlsp--range (server action)
  "The LSP range for ACTION on SERVER: the region, else an empty range.
Empty at point (the server takes the enclosing function), or for a
completion at the end of point's line."
  (cond ((use-region-p)
         (list :start (hybridlsp--position server (region-beginning))
               :end (hybridlsp--position server (region-end))))
        (t (let ((pos (hybridlsp--position
                       server (if (equal action "complete") (line-end-position) (point)))))
             (list :start pos :end pos)))))

(defun hybridlsp--insert (run lsp-pos text)
  (with-current-buffer (hybridlsp--run-buffer run)
    (save-excursion
      (goto-char (hybridlsp--point (hybridlsp--run-server run) lsp-pos))
      (insert text))))

(defun hybridlsp--commit-buffer-p (buffer)
  (with-current-buffer buffer
    (or (derived-mode-p 'hybridlsp-commit-mode)
        (and buffer-file-name (string-suffix-p "COMMIT_EDITMSG" buffer-file-name)))))

(defun hybridlsp-flymake (report-fn &rest _)
  "A flymake backend for the last review's findings."
  (funcall report-fn
           (save-restriction
             (widen)
             (mapcar (lambda (f)
                       (let ((beg (save-excursion (goto-char (point-min))
                                                  (forward-line (plist-get f :line)) (point)))
                             (end (save-excursion (goto-char (point-min))
                                                  (forward-line (plist-get f :end_line))
                                                  (line-end-position))))
                         (flymake-make-diagnostic
                          (current-buffer) beg end
                          (pcase (plist-get f :severity)
                            ("error" :error) ("warning" :warning) (_ :note))
                          (concat "hybridlsp: " (plist-get f :message)))))
                     hybridlsp--findings))))

(defun hybridlsp--findings-text (findings)
  (if (null findings) "No problems found."
    (mapconcat (lambda (f)
                 (concat (format "- line %d %s: %s" (1+ (plist-get f :line))
                                 (plist-get f :severity) (plist-get f :message))
                         (if (stringp (plist-get f :fix)) (format "\n  fix: %s" (plist-get f :fix)) "")))
               findings "\n")))

(defun hybridlsp--deliver (run result)
  (let ((action (hybridlsp--run-action run))
        (text (plist-get result :text))
        (footer (hybridlsp--footer result)))
    (pcase action
      ("complete"
       (hybridlsp--insert run (plist-get (plist-get (hybridlsp--run-params run) :range) :end) text)
       (hybridlsp--show text footer))
      ("review"
       (let ((findings (append (plist-get result :findings) nil)))
         (with-current-buffer (hybridlsp--run-buffer run)
           (setq hybridlsp--findings findings)
           (add-hook 'flymake-diagnostic-functions #'hybridlsp-flymake nil t)
           (when (bound-and-true-p flymake-mode) (flymake-start)))
         (hybridlsp--show (hybridlsp--findings-text findings) footer)))
      ("commit-message"
       (if (hybridlsp--commit-buffer-p (hybridlsp--run-buffer run))
           (hybridlsp--insert run '(:line 0 :character 0) (concat (string-trim text) "\n"))
         (hybridlsp--show (string-trim text) footer)))
      (_ (hybridlsp--show (string-trim text) footer)))
    (let ((by (or (plist-get result :answered_by) (plist-get result :decision))))
      (message "hybridlsp: %s by %s (tier %s), %s" (cdr (assoc action hybridlsp--labels))
               (plist-get by :model) (plist-get by :tier)
               (hybridlsp--money (plist-get (plist-get result :usage) :cost_usd))))))

(defun hybridlsp-run (action &optional prompt)
  "Run ACTION on the region or at point, with PROMPT if given.
ACTION is complete, explain, review or commit-message."
  (let* ((server (hybridlsp--server))
         (token (format "hybridlsp-emacs-%d-%d" (emacs-pid) (cl-incf hybridlsp--seq)))
         (params (append (list :action action
                               :textDocument (hybridlsp--document server)
                               :workDoneToken token)
                         (unless (and (equal action "commit-message") (not (use-region-p)))
                           (list :range (hybridlsp--range server action)))
                         (and prompt (not (string-empty-p prompt)) (list :prompt prompt))))
         (run (make-hybridlsp--run :action action :token token :server server
                                   :buffer (current-buffer) :params params :status 'running)))
    (hybridlsp--output (cdr (assoc action hybridlsp--labels)))
    (puthash token run hybridlsp--runs)
    (setq hybridlsp--current run)
    (hybridlsp--request
     server :hybridlsp/run params
     (lambda (result)
       (when (eq (hybridlsp--run-status run) 'running)
         (setf (hybridlsp--run-result run) result)
         (hybridlsp--deliver run result)
         (hybridlsp--done run 'done)))
     (lambda (err)
       (when (eq (hybridlsp--run-status run) 'running)
         (hybridlsp--show (hybridlsp--run-text run)
                          (list (format "failed: %s" (plist-get err :message))))
         (hybridlsp--done run 'error))))
    run))

(defun hybridlsp-cancel ()
  "Cancel the running action; the server closes the model's stream."
  (interactive)
  (let ((run hybridlsp--current))
    (when (and run (eq (hybridlsp--run-status run) 'running))
      (hybridlsp--notify (hybridlsp--run-server run) :window/workDoneProgress/cancel
                         (list :token (hybridlsp--run-token run)))
      (hybridlsp--show (hybridlsp--run-text run) '("cancelled"))
      (hybridlsp--done run 'cancelled))))

(defun hybridlsp-quit ()
  "Close *hybridlsp*, cancelling what still runs."
  (interactive)
  (hybridlsp-cancel)
  (quit-window))

(defun hybridlsp-explain (&optional focus)
  "Explain the region, or the function at point.
FOCUS (asked with a prefix arg) says what to look at."
  (interactive (list (and current-prefix-arg (read-string "Focus: "))))
  (hybridlsp-run "explain" focus))

(defun hybridlsp-review (&optional focus)
  "Review the region, or the function at point, with FOCUS if given.
Findings become flymake diagnostics."
  (interactive (list (and current-prefix-arg (read-string "Focus: "))))
  (hybridlsp-run "review" focus))

(defun hybridlsp-complete (&optional what)
  "Insert a completion after the region, or after point's line.
WHAT (asked with a prefix arg) says what to write."
  (interactive (list (and current-prefix-arg (read-string "What to write: "))))
  (hybridlsp-run "complete" what))

(defun hybridlsp-commit-message ()
  "Write a commit message for the staged diff.
At the top of COMMIT_EDITMSG, else shown in *hybridlsp*."
  (interactive)
  (hybridlsp-run "commit-message"))

(defun hybridlsp-feedback (verdict &optional note)
  "Rate the last answer: VERDICT is \"good\" or \"bad\", NOTE optional."
  (interactive (list (completing-read "Verdict: " '("good" "bad") nil t) (read-string "Note: ")))
  (let ((result (and hybridlsp-last (hybridlsp--run-result hybridlsp-last))))
    (unless result (user-error "hybridlsp: no finished answer to rate yet"))
    (hybridlsp--request
     (hybridlsp--run-server hybridlsp-last) :workspace/executeCommand
     (list :command "hybridlsp.feedback"
           :arguments (vector (append (list :request_id (plist-get result :request_id) :verdict verdict)
                                      (and note (not (string-empty-p note)) (list :note note)))))
     (lambda (_) (message "hybridlsp: recorded '%s'" verdict))
     (lambda (err) (message "hybridlsp: feedback failed: %s" (plist-get err :message))))))

(defun hybridlsp--report-command ()
  (or hybridlsp-report-command
      (let ((cmd (copy-sequence hybridlsp-command)))
        (if (equal (car (last cmd)) "serve")
            (append (butlast cmd) '("report"))
          (append cmd '("report"))))))

(defun hybridlsp-report ()
  "Show `hybridlsp report': requests, tier-1 share, spend and savings."
  (interactive)
  (let ((buf (get-buffer-create "*hybridlsp report*")))
    (with-current-buffer buf
      (fundamental-mode) ; writable while the process writes
      (erase-buffer))
    (make-process :name "hybridlsp-report" :buffer buf :command (hybridlsp--report-command)
                  :sentinel (lambda (_proc event)
                              (with-current-buffer buf (special-mode))
                              (message "hybridlsp report: %s" (string-trim event))
                              (run-hooks 'hybridlsp-done-hook)))
    (display-buffer buf)
    buf))

(provide 'hybridlsp)
;;; hybridlsp.el ends here
