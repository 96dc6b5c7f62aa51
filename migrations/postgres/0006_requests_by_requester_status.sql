-- A user's list of pending requests (`filters[status]=pending`) read every
-- request the user ever made through `requests_requester`: slower with each
-- one. With the status in the index it reads only the matching ones.
CREATE INDEX requests_requester_status ON requests (requester_id, status, id);
