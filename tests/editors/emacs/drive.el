;;; drive.el --- run hybridlsp's commands in batch as a user would  -*- lexical-binding: t -*-
;;
;; HYBRIDLSP_EMACS_PLAN = {"plugin": dir, "out": file, "client": "eglot" (default) or "lsp-mode",
;;   "state": dir (lsp-mode's session file goes there), "command": the server command if not
;;   `hybridlsp-command''s default,
;;   "steps": [{"file": f, "line": n, "region": [l1, l2], "command": "hybridlsp-explain",
;;              "cancel": bool}]}       (lines 1-based; a region covers whole lines l1..l2)
;; Writes what happened (the *hybridlsp* text, buffer text, findings, messages) to plan.out.

(require 'json)
;; as an interactive Emacs does after the init file (batch skips it): the elpa packages'
;; autoloads; lsp-mode needs its own (lsp-modeline-..., lsp-headerline-...)
(package-activate-all)
(let ((plan (json-parse-string (getenv "HYBRIDLSP_EMACS_PLAN") :object-type 'plist :array-type 'list)))
  (add-to-list 'load-path (plist-get plan :plugin))
  (defvar drive--lsp (equal (plist-get plan :client) "lsp-mode"))
  (require 'hybridlsp)
  (setq eglot-confirm-server-initiated-edits nil ; batch: nothing to confirm with
        eglot-sync-connect 20)
  (transient-mark-mode 1)
  (when (plist-get plan :command)
    (setq hybridlsp-command (plist-get plan :command)))
  (if (not drive--lsp)
      (hybridlsp-setup)
    (require 'hybridlsp-lsp)
    (setq lsp-enable-file-watchers nil        ; batch: no prompts, no state outside the test
          lsp-auto-guess-root t
          lsp-restart 'ignore
          lsp-session-file (expand-file-name "lsp-session" (plist-get plan :state))
          lsp-log-io nil
          lsp-enable-snippet nil)                ; no yasnippet here
    (hybridlsp-lsp-setup))

  (defun drive--connect ()
    "Start the client in this buffer unless it runs; non-nil once it manages the buffer."
    (if drive--lsp
        (progn (unless (hybridlsp-lsp--server) (lsp))
               (lambda () (let ((ws (hybridlsp-lsp--server)))
                            (and ws (eq (lsp--workspace-status ws) 'initialized)))))
      (unless (eglot-current-server)
        (apply #'eglot (eglot--guess-contact)))
      (lambda () (bound-and-true-p eglot--managed-mode))))

  (defun drive--wait (pred secs)
    (let ((end (+ (float-time) secs)))
      (while (and (not (funcall pred)) (< (float-time) end))
        (accept-process-output nil 0.05))
      (and (funcall pred) t)))

  (let ((steps '()) (errors '()))
    (condition-case err
        (dolist (step (plist-get plan :steps))
          (let ((record (list :command (plist-get step :command))))
            (when (plist-get step :file)
              (find-file (plist-get step :file))
              (unless (drive--wait (drive--connect) 20)
                (error "%s does not manage %s" (if drive--lsp "lsp-mode" "eglot") (plist-get step :file)))
              (setq record (plist-put record :mode (symbol-name major-mode))))
            (goto-char (point-min))
            (forward-line (1- (or (plist-get step :line) 1)))
            (deactivate-mark)
            (let ((region (plist-get step :region)))
              (when region
                (goto-char (point-min)) (forward-line (1- (car region)))
                (push-mark (point) t t)
                (forward-line (- (cadr region) (car region) -1))))
            (let* ((before hybridlsp-last)
                   (buffer (current-buffer))
                   (command (intern (plist-get step :command))))
              (if (plist-get step :args)
                  (apply command (plist-get step :args))
                (call-interactively command))
              (when (plist-get step :cancel)
                (unless (drive--wait (lambda () (and hybridlsp--current
                                                     (>= (hybridlsp--run-chunks hybridlsp--current) 2)))
                                     20)
                  (error "nothing streamed"))
                (with-current-buffer "*hybridlsp*" ; the key, in the output buffer
                  (call-interactively (key-binding (kbd "C-c C-k")))))
              (let ((done (drive--wait (lambda () (not (eq hybridlsp-last before))) 30)))
                (setq record (plist-put record :done done)))
              (let ((run hybridlsp-last))
                (when run
                  (setq record (append record
                                       (list :status (symbol-name (hybridlsp--run-status run))
                                             :chunks (hybridlsp--run-chunks run)
                                             :result (or (hybridlsp--run-result run) :null))))))
              (setq record (append record
                                   (list :output (with-current-buffer (get-buffer-create "*hybridlsp*")
                                                   (buffer-string))
                                         :text (with-current-buffer buffer
                                                 (buffer-substring-no-properties (point-min) (point-max)))
                                         :findings (vconcat (buffer-local-value 'hybridlsp--findings buffer))))))
            (push record steps)))
      (error (push (error-message-string err) errors)))
    ;; the report runs last, as a process
    (let ((done nil))
      (add-hook 'hybridlsp-done-hook (lambda () (setq done t)))
      (condition-case err
          (progn (hybridlsp-report)
                 (drive--wait (lambda () done) 30))
        (error (push (error-message-string err) errors))))
    (with-temp-file (plist-get plan :out)
      (insert (json-encode
               (list :steps (vconcat (nreverse steps))
                     :errors (vconcat errors)
                     :report (with-current-buffer "*hybridlsp report*" (buffer-string))
                     :messages (with-current-buffer "*Messages*" (buffer-string))))))
    (kill-emacs 0)))
