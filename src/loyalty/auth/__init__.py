"""Who is asking and what they may do: roles, the permission matrix, tokens, passwords."""
