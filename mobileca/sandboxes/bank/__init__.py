"""Bank sandbox: corporate accounts, transfers with a memo, and each account's statement page. The signing service
pays small random amounts from its own account for 正向打款 (forward-transfer verification)."""
