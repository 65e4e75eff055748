-- Authorization-code exchanges, each with a code of its own: a code is spent when used.
-- Arguments: the file of codes (one a line), then the rest of the form, urlencoded
-- (client_id, redirect_uri, code_verifier).
local codes, rest, n = {}, "", 0

init = function(args)
  for line in io.lines(args[1]) do codes[#codes + 1] = line end
  rest = args[2]
end

request = function()
  n = n + 1
  if n > #codes then
    error("bench: codes exhausted after " .. #codes .. " requests")
  end
  return wrk.format("POST", "/token",
    { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=authorization_code&code=" .. codes[n] .. "&" .. rest)
end
