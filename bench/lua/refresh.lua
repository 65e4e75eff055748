-- Refresh grants, each with a refresh token of its own: a token is rotated when used,
-- so none may be sent twice. The file (first argument) holds one token per line.
local tokens, n = {}, 0

init = function(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
end

request = function()
  n = n + 1
  if n > #tokens then
    error("bench: refresh tokens exhausted after " .. #tokens .. " requests")
  end
  return wrk.format("POST", "/token",
    { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=refresh_token&refresh_token=" .. tokens[n])
end
