;;; hybridlsp-lsp.el --- hybridlsp through lsp-mode  -*- lexical-binding: t -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (lsp-mode "8.0") (hybridlsp "0.1.0"))

;;; Commentary:

;; Registers `hybridlsp serve' as an lsp-mode client (server id `hybridlsp') for
;; `hybridlsp-modes' and git commit messages.  It is an add-on client: it runs beside the
;; buffer's main language server (pylsp, rust-analyzer...).  The commands of hybridlsp.el
;; (hybridlsp-explain, -review, -complete, -commit-message, -cancel, -feedback) work in the
;; buffers lsp-mode manages; this file only adds lsp-mode's transport for them.
;;
;;   (require 'hybridlsp-lsp)
;;   (hybridlsp-lsp-setup)        ; then M-x lsp, or lsp-deferred in your mode hooks
;;
;; hybridlsp.el loads eglot for its own transport; loading it starts nothing.

;;; Code:

(require 'cl-lib)
(require 'lsp-mode)
(require 'hybridlsp)

(defun hybridlsp-lsp--plist (value)
  "VALUE as eglot parses JSON: objects as keyword plists, arrays as vectors.
lsp-mode parses objects into hash tables (unless built with `lsp-use-plists')."
  (cond ((hash-table-p value)
         (let ((plist '()))
           (maphash (lambda (key v)
                      (push (intern (concat ":" key)) plist)
                      (push (hybridlsp-lsp--plist v) plist))
                    value)
           (nreverse plist)))
        ((and (vectorp value) (not (stringp value))) (vconcat (mapcar #'hybridlsp-lsp--plist value)))
        (t value)))

(defun hybridlsp-lsp--server ()
  "The hybridlsp workspace of the current buffer, if lsp-mode manages it."
  (and (bound-and-true-p lsp-mode)
       (cl-find 'hybridlsp (lsp-workspaces)
                :key (lambda (ws) (lsp--client-server-id (lsp--workspace-client ws))))))

(defun hybridlsp-lsp--method (method)
  (substring (symbol-name method) 1))

(cl-defmethod hybridlsp--request ((server lsp--workspace) method params on-success on-error)
  (with-lsp-workspace server  ; only this server, not the buffer's others
    (lsp-request-async (hybridlsp-lsp--method method) params
                       (lambda (result) (funcall on-success (hybridlsp-lsp--plist result)))
                       :error-handler (lambda (err) (funcall on-error (hybridlsp-lsp--plist err)))
                       :mode 'detached)))

(cl-defmethod hybridlsp--notify ((server lsp--workspace) method params)
  (with-lsp-workspace server
    (lsp-notify (hybridlsp-lsp--method method) params)))

(cl-defmethod hybridlsp--document ((_server lsp--workspace))
  (lsp--text-document-identifier))

(cl-defmethod hybridlsp--position ((_server lsp--workspace) pos)
  (lsp--point-to-position pos))

(cl-defmethod hybridlsp--point ((_server lsp--workspace) lsp-pos)
  (lsp--line-character-to-point (plist-get lsp-pos :line) (plist-get lsp-pos :character)))

(defun hybridlsp-lsp--on-progress (workspace params)
  "Feed the reports of our runs to *hybridlsp*; leave the others to lsp-mode."
  (let ((progress (hybridlsp-lsp--plist params)))
    (unless (hybridlsp--progress (plist-get progress :token) (plist-get progress :value))
      (funcall lsp-progress-function workspace params))))

;;;###autoload
(defun hybridlsp-lsp-setup ()
  "Register hybridlsp with lsp-mode for `hybridlsp-modes' and commit messages."
  (add-to-list 'auto-mode-alist '("/COMMIT_EDITMSG\\'" . hybridlsp-commit-mode))
  (add-to-list 'lsp-language-id-configuration '(hybridlsp-commit-mode . "gitcommit"))
  (add-hook 'hybridlsp-server-functions #'hybridlsp-lsp--server)
  (let ((handlers (make-hash-table :test #'equal)))
    (puthash "$/progress" #'hybridlsp-lsp--on-progress handlers)
    (lsp-register-client
     (make-lsp-client
      :new-connection (lsp-stdio-connection (lambda () hybridlsp-command))
      :major-modes (cons 'hybridlsp-commit-mode hybridlsp-modes)
      :server-id 'hybridlsp
      :add-on? t
      :initialization-options (lambda () (or hybridlsp-settings (make-hash-table)))
      :notification-handlers handlers))))

(provide 'hybridlsp-lsp)
;;; hybridlsp-lsp.el ends here
