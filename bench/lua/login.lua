-- Password grants, round-robin over the users named in the arguments (slug/email each).
local users, password, n = {}, nil, 0

init = function(args)
  password = args[1]
  for i = 2, #args do users[#users + 1] = args[i] end
end

request = function()
  n = n + 1
  local body = "grant_type=password&username=" .. users[(n % #users) + 1]
    .. "&password=" .. password
  return wrk.format("POST", "/token",
    { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end
